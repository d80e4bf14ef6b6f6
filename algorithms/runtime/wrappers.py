"""How to launch our own algorithm wrappers (``algorithms/wrappers``) under an AlgorithmSession.

The environment and paths are the language registry's (``builds.languages``, what algorithm
workers use); this adds the command for a given interpreter, for sessions started outside a
build (tests, benchmarks).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from builds.languages import DEFAULT_ENTRY_POINTS, wrapper_env
from builds.languages.nodejs import NODEJS_WRAPPER
from builds.languages.python import PYTHON_WRAPPER_DIR

__all__ = ["DEFAULT_ENTRY_POINTS", "NODEJS_WRAPPER", "PYTHON_WRAPPER_DIR", "wrapper_launch"]


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
    env = wrapper_env(language, Path(algorithm_path), entry_point)
    if language == "python":
        return [python, "-m", "hkube_wrapper"], env
    if language == "nodejs":
        return [node, os.fspath(NODEJS_WRAPPER)], env
    raise ValueError(f"no wrapper for language {language!r}")
