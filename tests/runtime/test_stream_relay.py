"""Stream tasks without the platform around them: real algorithm processes on our Python
wrapper, each behind an AlgorithmSession with a Relay, over a real Redis (docs/streaming.md)."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from algorithms.runtime.session import AlgorithmSession, TaskOutcome
from algorithms.runtime.streams import transport
from algorithms.runtime.streams.relay import BATCH_FIELD, Relay, all_next, all_previous, delivery
from algorithms.runtime.streams.transport import Consumer, Producer
from hkube_site.redis_client import StreamKeys, stream_keys

from .conftest import SessionFactory

SOURCE = {
    "main.py": """
        import time

        stopping = False

        def start(args, api):
            global stopping
            stopping = False
            count, flow = args["input"][0], args["input"][1]
            for n in range(count):
                api.send_message({"n": n}, flow)
            while not stopping:
                time.sleep(0.01)
            return "source stopped"

        def stop(data):
            global stopping
            stopping = True
    """
}
DOUBLE = {
    "main.py": """
        import time

        def start(args, api):
            message = args["streamInput"]["message"]
            time.sleep(args["input"][0] if args["input"] else 0)
            return {"n": message["n"], "double": message["n"] * 2, "by": args["nodeName"]}
    """
}
SINK = {
    "main.py": """
        import threading

        got = []
        enough = threading.Event()
        wanted = 0

        def start(args, api):
            global wanted
            got.clear()
            enough.clear()
            wanted = args["input"][0]

            def on_message(message, origin):
                got.append([message, origin])
                if len(got) >= wanted:
                    enough.set()

            api.register_input_listener(on_message)
            api.start_message_listening()
            enough.wait()
            return got

        def stop(data):
            enough.set()
    """
}
FLOWS = {
    "main": [{"source": "src", "next": ["double"]}, {"source": "double", "next": ["sink"]}],
    "direct": [{"source": "src", "next": ["sink"]}],
}


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def keys() -> StreamKeys:
    return stream_keys(f"job-{uuid.uuid4().hex[:8]}")


class Task:
    """One stream task: a session, its relay, and run_task on a thread."""

    def __init__(
        self,
        session: AlgorithmSession,
        client: redis.Redis,
        keys: StreamKeys,
        node: str,
        state_type: str,
        task_input: list[Any],
        consumer: str | None = None,
        late_start: float = 0.0,
        batched: bool = True,
    ) -> None:
        self.session = session
        self.late_start = late_start
        childs, parents = all_next(FLOWS, node), all_previous(FLOWS, node)
        self.relay = Relay(
            node=node,
            run="0.1",
            flows=FLOWS,
            default_flow="main",
            producer=Producer(client, keys, node),
            consumer=Consumer(client, keys, node, parents, consumer or f"{node}-0", claim_idle_ms=500),
            send=session.send,
            # As a stream task does (stream_task.py): many messages per frame when the wrapper
            # announced it and the test wants it, else our wrapper's in-order window.
            **delivery(pipelined=session.pipelined, batched=batched and session.stream_batch),
        )
        self.payload = {
            "jobId": keys.job_id,
            "taskId": consumer or f"{node}-0",
            "nodeName": node,
            "kind": "stream",
            "stateType": state_type,
            "parsedFlow": FLOWS,
            "defaultFlow": "main",
            "childs": childs,
            "parents": parents,
            "input": task_input,
        }
        if batched and session.stream_batch:
            self.payload[BATCH_FIELD] = True
        self.outcome: TaskOutcome | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.relay.start()
        time.sleep(self.late_start)  # messages may reach the algorithm before its initialize
        try:
            self.outcome = self.session.run_task(self.payload, on_event=self.relay.on_event)
        finally:
            self.relay.close()

    def stop(self, drain: bool = True) -> None:
        if drain:
            self.relay.drain(10)
        deadline = time.monotonic() + 5
        while not self.session.stop() and time.monotonic() < deadline:
            time.sleep(0.05)

    def wait(self, timeout: float = 60) -> TaskOutcome:
        self.thread.join(timeout)
        assert self.outcome is not None, "the task did not end"
        return self.outcome


@pytest.fixture(params=[True, False], ids=["frames-of-many", "frame-per-message"])
def batched(request: pytest.FixtureRequest) -> bool:
    """Our wrapper both ways: many messages per frame (streamBatch), and one message per frame
    with up to 50 in flight (a wrapper that does not announce streamBatch; HKube's own, one in
    flight at a time, runs in tests/e2e/test_streaming_hkube_wrapper.py)."""
    return bool(request.param)


@pytest.fixture
def tasks() -> Iterator[list[Task]]:
    started: list[Task] = []
    yield started
    for task in started:
        task.relay.close()


def test_source_double_sink_every_number_once_in_order(
    start_wrapper: SessionFactory, client: redis.Redis, keys: StreamKeys, tasks: list[Task], batched: bool
) -> None:
    count = 5000
    sink = Task(start_wrapper("python", SINK), client, keys, "sink", "stateful", [count], batched=batched)
    double = Task(start_wrapper("python", DOUBLE), client, keys, "double", "stateless", [], batched=batched)
    began = time.perf_counter()
    source = Task(
        start_wrapper("python", SOURCE), client, keys, "src", "stateful", [count, None], batched=batched
    )
    tasks += [sink, double, source]

    outcome = sink.wait()
    took = time.perf_counter() - began
    print(f"{count} messages source -> double -> sink: {took:.2f} s, {count / took:,.0f} messages/s")

    assert outcome.status == "done", outcome.error
    assert [m["n"] for m, _ in outcome.result] == list(range(count))
    assert all(m["double"] == 2 * m["n"] and origin == "double" for m, origin in outcome.result)
    stats = transport.statistics(client, keys)
    assert stats["src>double"]["sent"] == count and stats["double>sink"]["received"] == count
    source.stop()
    double.stop()
    assert source.wait().status == "stopped" and double.wait().status == "stopped"


def test_a_named_flow_routes_around_the_stateless_node(
    start_wrapper: SessionFactory, client: redis.Redis, keys: StreamKeys, tasks: list[Task]
) -> None:
    sink = Task(start_wrapper("python", SINK), client, keys, "sink", "stateful", [50])
    double = Task(start_wrapper("python", DOUBLE), client, keys, "double", "stateless", [])
    source = Task(start_wrapper("python", SOURCE), client, keys, "src", "stateful", [50, "direct"])
    tasks += [sink, double, source]

    outcome = sink.wait()

    assert [(m, origin) for m, origin in outcome.result] == [({"n": n}, "src") for n in range(50)]
    assert "src>double" not in transport.statistics(client, keys)
    source.stop()
    double.stop()


def test_a_killed_stateless_replica_loses_no_message(
    start_wrapper: SessionFactory, client: redis.Redis, keys: StreamKeys, tasks: list[Task], batched: bool
) -> None:
    count = 300
    sink = Task(start_wrapper("python", SINK), client, keys, "sink", "stateful", [count], batched=batched)
    first = Task(
        start_wrapper("python", DOUBLE),
        client,
        keys,
        "double",
        "stateless",
        [0.01],
        "double-1",
        batched=batched,
    )
    second = Task(
        start_wrapper("python", DOUBLE),
        client,
        keys,
        "double",
        "stateless",
        [0.01],
        "double-2",
        batched=batched,
    )
    source = Task(
        start_wrapper("python", SOURCE), client, keys, "src", "stateful", [count, None], batched=batched
    )
    tasks += [sink, first, second, source]
    time.sleep(0.5)
    pid = first.session.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # mid-stream, with messages read and not acknowledged
    assert first.wait(10).status == "crashed"

    outcome = sink.wait()

    numbers = sorted(m["n"] for m, _ in outcome.result)
    assert numbers == list(range(count))  # every one, none twice (the second replica took over)
    source.stop()
    second.stop()


def test_stop_drains_the_messages_already_sent(
    start_wrapper: SessionFactory, client: redis.Redis, keys: StreamKeys, tasks: list[Task], batched: bool
) -> None:
    count = 200
    sink = Task(start_wrapper("python", SINK), client, keys, "sink", "stateful", [10**9], batched=batched)
    double = Task(
        start_wrapper("python", DOUBLE), client, keys, "double", "stateless", [0.005], batched=batched
    )
    source = Task(
        start_wrapper("python", SOURCE), client, keys, "src", "stateful", [count, None], batched=batched
    )
    tasks += [sink, double, source]
    time.sleep(0.3)  # the source has sent everything; double is still working through it

    for task in (source, double, sink):
        task.stop()

    outcome = sink.wait()
    assert outcome.status == "stopped"
    stats = transport.statistics(client, keys)
    assert stats["double>sink"]["received"] == count
    assert stats["src>double"]["queueSize"] == 0 and stats["double>sink"]["queueSize"] == 0


def test_a_warm_stateless_process_serves_the_next_task_without_losing_a_message(
    start_wrapper: SessionFactory, client: redis.Redis, tasks: list[Task]
) -> None:
    warm = start_wrapper("python", DOUBLE)
    for _ in range(3):
        keys = stream_keys(f"job-{uuid.uuid4().hex[:8]}")
        sink = Task(start_wrapper("python", SINK), client, keys, "sink", "stateful", [300])
        source = Task(start_wrapper("python", SOURCE), client, keys, "src", "stateful", [300, None])
        time.sleep(0.2)
        double = Task(warm, client, keys, "double", "stateless", [], late_start=0.3)
        tasks += [sink, source, double]

        outcome = sink.wait()

        assert [m["n"] for m, _ in outcome.result] == list(range(300))
        source.stop()
        double.stop()
        assert double.wait().status == "stopped"
