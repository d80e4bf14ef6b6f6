"""A redelivered chunk of a node with streaming (`*@`) children: the items the dead worker
recorded are reported again, so a child item it never got to send is not lost."""

from __future__ import annotations

from typing import Any, cast

import pytest
import redis

from algorithms import worker
from pipelines.services.recording import TaskRecord
from pipelines.taskspec import TaskSpec


class FakeRunner:
    worker_id = "w-1"

    def __init__(self) -> None:
        self.stopped_jobs: set[str] = set()
        self.ran: list[int] = []

    def run_chunk(self, spec: TaskSpec, indices: list[int], already_done: set[int]) -> list[TaskRecord]:
        runnable = [i for i in indices if i + 1 not in already_done]
        self.ran += runnable
        return [cast(TaskRecord, {"batch_index": i + 1, "status": "succeed"}) for i in runnable]


@pytest.fixture
def reported(monkeypatch: pytest.MonkeyPatch, real_redis: redis.Redis) -> list[list[int]]:
    calls: list[list[int]] = []
    monkeypatch.setattr(worker.recording, "ended_items", lambda spec, indices: {1, 2})
    monkeypatch.setattr(worker.recording, "record_chunk", lambda spec, records: None)
    monkeypatch.setattr(worker.services, "items_ended", lambda job, node, indices: calls.append(indices))
    return calls


def spec(any_children: bool) -> TaskSpec:
    body: dict[str, Any] = {"jobId": "j1", "nodeName": "b", "mode": "batch", "anyChildren": any_children}
    return cast(TaskSpec, body)


def test_a_redelivered_streaming_chunk_reports_the_items_already_recorded(reported: list[list[int]]) -> None:
    runner = FakeRunner()
    worker.execute_chunk(runner, spec(True), [0, 1, 2, 3], redelivered=True)
    assert runner.ran == [2, 3]
    assert reported == [[1, 2], [3], [4]]


def test_a_first_delivery_reports_only_what_it_ran(reported: list[list[int]]) -> None:
    runner = FakeRunner()
    worker.execute_chunk(runner, spec(True), [0, 1], redelivered=False)
    assert reported == [[1], [2]]


def test_a_chunk_without_streaming_children_reports_nothing(reported: list[list[int]]) -> None:
    worker.execute_chunk(FakeRunner(), spec(False), [0, 1, 2], redelivered=True)
    assert reported == []
