"""A replica scaled down (`stopReplica`): only the named stream task takes no new message,
finishes its batch, then its algorithm gets stop (algorithms/runtime/stream_task.py)."""

from __future__ import annotations

import time
from typing import Any, cast

from algorithms.runtime.runner import Runner
from algorithms.runtime.session import AlgorithmSession
from algorithms.runtime.stream_task import StreamTask
from algorithms.runtime.streams.relay import Relay


class FakeRelay:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def release(self, timeout: float) -> None:
        self.calls.append("release")

    def drain(self, timeout: float) -> bool:
        self.calls.append("drain")
        return True


class FakeSession:
    alive = True

    def __init__(self, relay: FakeRelay) -> None:
        self.relay = relay
        self.current_task = 7  # the task number its run has

    def stop(self, force: bool = False, *, task: int | None = None) -> bool:
        if task is not None and task != self.current_task:
            return False  # another task runs: not this one's to stop
        self.relay.calls.append(f"stop force={force}")
        return True


def task(job: str, node: str, index: int) -> tuple[StreamTask, FakeRelay]:
    found = StreamTask(job, node, index)
    relay = FakeRelay()
    found.relay = cast(Relay, relay)
    found.session = cast(AlgorithmSession, FakeSession(relay))
    found.run = 7
    return found, relay


def wait_for(calls: list[str], count: int) -> None:
    deadline = time.monotonic() + 5
    while len(calls) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_the_named_replica_releases_then_stops_its_algorithm(tmp_path: Any) -> None:
    runner = Runner(cast(Any, None), "w1")
    runner.stream, relay = task("job1", "double", 3)
    runner.on_stop_replica("job1", "double", 2)  # another replica
    runner.on_stop_replica("job2", "double", 3)  # another job
    time.sleep(0.05)
    assert relay.calls == []
    runner.on_stop_replica("job1", "double", 3)
    wait_for(relay.calls, 2)
    assert relay.calls == ["release", "stop force=False"]
    assert runner.stream.stopping and runner.stream.released


def test_a_job_stop_drains_instead() -> None:
    stream, relay = task("job1", "double", 1)
    stream.stop()
    wait_for(relay.calls, 2)
    assert relay.calls == ["drain", "stop force=False"]
    assert not stream.released


def test_a_stop_never_reaches_the_next_task_on_the_same_process() -> None:
    # The job's stop came as its task was ending: the warm process already runs the worker's
    # next task (another job's), which must not get this stop.
    stream, relay = task("job1", "sink", 0)
    session = cast(FakeSession, stream.session)
    session.current_task = 8  # the next task runs
    stream.stop()
    time.sleep(0.3)
    assert relay.calls == ["drain"]
    stream.ended = True  # this task's run is over: the stop gives up
    time.sleep(0.2)
    assert relay.calls == ["drain"]
