"""The subprocess runner of build steps: streamed output, failures with their tail, stops."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from builds.process import BuildError, BuildStopped, run, run_shell, stop_when


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_steps_output_is_streamed_line_by_line(tmp_path: Path) -> None:
    lines: list[str] = []
    run(
        python("print('a'); print('b')"),
        what="two lines",
        cwd=tmp_path,
        env=dict(os.environ),
        log=lines.append,
        deadline=time.monotonic() + 60,
    )
    assert lines == ["$ two lines", "a", "b"]


def test_a_failed_step_raises_with_its_exit_code_and_the_tail_of_its_output(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"boom failed with exit code 3\nlast words"):
        run(
            python("print('last words'); raise SystemExit(3)"),
            what="boom",
            cwd=tmp_path,
            env=dict(os.environ),
            log=lambda line: None,
            deadline=time.monotonic() + 60,
        )


def test_a_step_past_its_deadline_is_killed(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(BuildError, match="slow timed out"):
        run(
            python("import time; time.sleep(30)"),
            what="slow",
            cwd=tmp_path,
            env=dict(os.environ),
            log=lambda line: None,
            deadline=time.monotonic() + 0.5,
        )
    assert time.monotonic() - started < 10


def test_a_stopped_build_kills_its_running_step(tmp_path: Path) -> None:
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with stop_when(stop.is_set, interval=0.05), pytest.raises(BuildStopped):
        run(
            python("import time; time.sleep(30)"),
            what="sleep",
            cwd=tmp_path,
            env=dict(os.environ),
            log=lambda line: None,
            deadline=time.monotonic() + 60,
        )
    assert time.monotonic() - started < 10


def test_install_commands_run_in_a_shell_in_the_code_folder(tmp_path: Path) -> None:
    lines: list[str] = []
    run_shell(
        "echo $((1 + 2)) > out.txt && cat out.txt",
        cwd=tmp_path,
        env=dict(os.environ),
        log=lines.append,
        deadline=time.monotonic() + 60,
    )
    assert lines[-1] == "3"
    assert (tmp_path / "out.txt").read_text() == "3\n"
