"""An engine task that loses its database connection runs again instead of being dropped."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from pipelines import services
from pipelines import tasks as engine_tasks


def test_a_lost_database_connection_runs_the_task_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def start_job(job_id: str) -> None:
        calls.append(job_id)
        if len(calls) == 1:
            raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(services, "start_job", start_job)
    result = engine_tasks.start_job.apply(args=("j1",))
    assert result.successful(), result.traceback
    assert calls == ["j1", "j1"]


def test_another_error_is_not_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def node_finished(job_id: str, node_name: str) -> None:
        calls.append(node_name)
        raise ValueError("a bug")

    monkeypatch.setattr(services, "node_finished", node_finished)
    result = engine_tasks.node_finished.apply(args=("j1", "a"))
    assert result.failed()
    assert calls == ["a"]
