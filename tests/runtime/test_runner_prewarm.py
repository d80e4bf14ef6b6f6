"""The worker's warm-up starts the algorithm process ahead of the first task, and never
replaces a session a task opened first: a stream task's session is of its own kind, and
closing it (HKube's wrapper then gets `exit`) ran a stateful source twice."""

from __future__ import annotations

from typing import Any

import pytest

from algorithms.runtime import runner as runner_module
from algorithms.runtime.runner import Runner
from hkube_site.object_store import get_storage


class FakeSession:
    def __init__(self, extra_env: dict[str, str] | None) -> None:
        self.stream = extra_env is not None
        self.alive = True
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.alive = False


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Runner:
    def spawn(name: str, version: str, worker_id: str, extra_env: Any = None) -> tuple[Any, bool, None]:
        return FakeSession(extra_env), False, None

    monkeypatch.setattr(runner_module, "_spawn", spawn)
    return Runner(get_storage(), "w1")


def test_prewarm_starts_a_session_when_there_is_none(runner: Runner) -> None:
    runner.prewarm("algo", "v1")

    session: Any = runner.session
    assert session is not None and not session.stream
    assert runner.session_for("algo", "v1") is session  # the first batch task uses it


def test_prewarm_leaves_a_stream_tasks_session_alone(runner: Runner) -> None:
    stream: Any = runner.session_for("algo", "v1", stream=True)

    runner.prewarm("algo", "v1")

    assert runner.session is stream and not stream.closed


def test_a_stream_task_replaces_the_warm_session(runner: Runner) -> None:
    runner.prewarm("algo", "v1")
    warm: Any = runner.session

    stream: Any = runner.session_for("algo", "v1", stream=True)

    assert warm.closed and stream.stream and runner.session is stream
