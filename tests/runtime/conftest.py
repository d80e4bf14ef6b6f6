"""Fixtures for driving REAL algorithm processes through AlgorithmSession."""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from algorithms.runtime.session import AlgorithmSession
from algorithms.runtime.wrappers import PYTHON_WRAPPER_DIR, wrapper_launch

requires_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def write_algorithm(folder: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: source}`` into ``folder`` (dedented) and return the folder."""
    for name, source in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(source).lstrip())
    return folder


SessionFactory = Callable[..., AlgorithmSession]


@pytest.fixture
def sessions() -> Iterator[list[AlgorithmSession]]:
    started: list[AlgorithmSession] = []
    yield started
    for session in started:
        session.close()


@pytest.fixture
def start_wrapper(tmp_path: Path, sessions: list[AlgorithmSession]) -> SessionFactory:
    """Write an algorithm and start one of our wrappers on it: ``start_wrapper(lang, files, ...)``."""

    def start(
        language: str,
        files: dict[str, str],
        entry_point: str | None = None,
        env: dict[str, str] | None = None,
        **options: Any,
    ) -> AlgorithmSession:
        folder = write_algorithm(tmp_path / f"alg{len(sessions)}", files)
        command, wrapper_env = wrapper_launch(language, folder, entry_point)
        session = AlgorithmSession(command, {**wrapper_env, **(env or {})}, **options)
        sessions.append(session)
        session.start()
        return session

    return start


@pytest.fixture
def start_script(tmp_path: Path, sessions: list[AlgorithmSession]) -> SessionFactory:
    """Start a hand-written client script (a stand-in for HKube's wrapper) with this interpreter."""

    def start(source: str, **options: Any) -> AlgorithmSession:
        script = tmp_path / f"client{len(sessions)}.py"
        script.write_text(textwrap.dedent(source).lstrip())
        env = {"PYTHONPATH": str(PYTHON_WRAPPER_DIR)}
        session = AlgorithmSession([sys.executable, "-u", str(script)], env, **options)
        sessions.append(session)
        session.start()
        return session

    return start
