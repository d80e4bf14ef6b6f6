"""How to launch our own algorithm wrappers (``algorithms/wrappers``) under an AlgorithmSession."""

from __future__ import annotations

import os
import sys
from pathlib import Path

WRAPPERS_DIR = Path(__file__).resolve().parent.parent / "wrappers"
PYTHON_WRAPPER_DIR = WRAPPERS_DIR / "python"  # holds the hkube_wrapper package
NODEJS_WRAPPER = WRAPPERS_DIR / "nodejs" / "wrapper.js"

DEFAULT_ENTRY_POINTS = {"python": "main.py", "nodejs": "index.js"}


def wrapper_launch(
    language: str,
    algorithm_path: str | os.PathLike[str],
    entry_point: str | None = None,
    *,
    python: str = sys.executable,
    node: str = "node",
) -> tuple[list[str], dict[str, str]]:
    """The command and the environment additions that start our wrapper for ``language``.

    Pass both to ``AlgorithmSession(command, env)``; the session adds ``WORKER_SOCKET_URL``.
    ``python`` is the interpreter of the algorithm's own environment (the wrapper needs only the
    standard library, and uses msgpack frames when that environment has msgpack).
    """
    env = {
        "ALGORITHM_PATH": os.fspath(algorithm_path),
        "ALGORITHM_ENTRY_POINT": entry_point or DEFAULT_ENTRY_POINTS.get(language, ""),
    }
    if language == "python":
        # PYTHONPATH is replaced, not extended: the worker's own path must not leak into the algorithm.
        env["PYTHONPATH"] = os.fspath(PYTHON_WRAPPER_DIR)
        env["PYTHONUNBUFFERED"] = "1"  # log lines reach drain_logs() while the task runs
        return [python, "-m", "hkube_wrapper"], env
    if language == "nodejs":
        return [node, os.fspath(NODEJS_WRAPPER)], env
    raise ValueError(f"no wrapper for language {language!r}; expected python or nodejs")
