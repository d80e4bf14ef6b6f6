"""Stream pipelines end to end (docs/streaming.md): stateful and stateless nodes as real
algorithm processes on our Python wrapper, messages through the job's Redis streams."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from algorithms.runtime.streams import transport
from hkube_site.redis_client import stream_keys
from tests.e2e.algorithms import DOUBLE, STREAM_ASKING_SOURCE, STREAM_DOUBLE, STREAM_SINK, STREAM_SOURCE
from tests.e2e.harness import Cluster, eventually, node

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> dict[str, str]:
    return {
        "source": algorithm_factory("e2e-stream-source", STREAM_SOURCE),
        "double": algorithm_factory("e2e-stream-double", STREAM_DOUBLE),
        "sink": algorithm_factory("e2e-stream-sink", STREAM_SINK),
    }


def stream_pipeline(
    algorithms: dict[str, str],
    name: str,
    source_input: list[Any],
    sink_input: list[Any],
    *,
    double_input: list[Any] | None = None,
    flows: dict[str, str] | None = None,
    **double: Any,
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "stream",
        "nodes": [
            node("src", algorithms["source"], *source_input, stateType="stateful"),
            node("double", algorithms["double"], *(double_input or []), stateType="stateless", **double),
            node("sink", algorithms["sink"], *sink_input, stateType="stateful"),
        ],
        "streaming": {"flows": flows or {"main": "src >> double >> sink"}},
        "options": {"ttl": 600},
    }


def sink_report(hkube: Cluster, job_id: str) -> dict[str, Any]:
    results = hkube.results(job_id)["data"]
    (entry,) = [r for r in results if r["nodeName"] == "sink"]
    report: dict[str, Any] = entry["result"]
    return report


def edge_stats(hkube: Cluster, job_id: str) -> dict[str, dict[str, float]]:
    return transport.statistics(hkube.redis(), stream_keys(job_id))


def test_ten_thousand_numbers_through_a_stateless_double_arrive_once_and_in_order(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    count = 10_000
    began = time.monotonic()
    job_id = hkube.submit(stream_pipeline(algorithms, "stream-10k", [count], [count]))

    status = hkube.wait(job_id, timeout=300)

    took = time.monotonic() - began
    assert status["status"] == "completed", status
    report = sink_report(hkube, job_id)
    assert report == {"double": {"count": count, "distinct": count, "inOrder": True, "doubled": True}}
    stats = edge_stats(hkube, job_id)
    assert stats["src>double"]["sent"] == count and stats["double>sink"]["received"] == count
    assert stats["src>double"].get("dropped", 0) == 0
    print(f"{count} messages source -> double -> sink: {took:.1f} s from submit to completed")
    # The other nodes were stopped once the sink's start returned.
    eventually(lambda: not any(w["busy"] for w in hkube.workers()), 60, "the stream tasks to end")


def test_two_named_flows_route_by_send_message(hkube: Cluster, algorithms: dict[str, str]) -> None:
    flows = {"doubled": "src >> double >> sink", "direct": "src >> sink"}
    body = stream_pipeline(algorithms, "stream-flows", [200, ["doubled", "direct"]], [200], flows=flows)
    body["streaming"]["defaultFlow"] = "doubled"

    job_id = hkube.submit(body)
    try:
        status = hkube.wait(job_id, timeout=120)
    except AssertionError:
        print("edge statistics:", edge_stats(hkube, job_id))
        raise

    assert status["status"] == "completed", status
    report = sink_report(hkube, status["jobId"])
    assert report == {
        "double": {"count": 100, "distinct": 100, "inOrder": True, "doubled": True},
        "src": {"count": 100, "distinct": 100, "inOrder": True, "doubled": True},
    }


def test_a_killed_stateless_replica_loses_no_message(hkube: Cluster, algorithms: dict[str, str]) -> None:
    # Slow enough (10 ms a message, about 15 s with two replicas) that both replicas are
    # reading, and one is killed, long before the end: at 2 ms a message the job was over
    # before the test saw the second replica.
    count = 3000
    body = stream_pipeline(
        algorithms, "stream-crash", [count], [count], double_input=[0.01], minStatelessCount=2
    )
    job_id = hkube.submit(body)

    def replicas() -> list[dict[str, Any]] | None:
        # Busy, two of them: this job's replicas (an earlier job's may still be draining).
        found = [
            w
            for w in hkube.workers()
            if w["algorithm"] == algorithms["double"] and w["busy"] and w.get("algorithmPid")
        ]
        return found if len(found) == 2 else None

    edge = stream_keys(job_id).edge("src", "double")

    def consumers() -> int:
        try:
            return len(hkube.redis().xinfo_consumers(edge, "double"))
        except redis.ResponseError:  # no stream or no group yet
            return 0

    try:
        eventually(lambda: consumers() == 2, 120, "both replicas reading the edge")
    except AssertionError:
        print("workers:", hkube.workers())
        print("queued:", {str(k): hkube.redis().llen(k) for k in hkube.redis().keys("algorithm.*")})
        raise
    workers = eventually(replicas, 60, "the two replicas' workers")
    eventually(lambda: edge_stats(hkube, job_id).get("double>sink", {}).get("received", 0) > 100, 60)
    os.kill(int(workers[0]["algorithmPid"]), signal.SIGKILL)

    status = hkube.wait(job_id, timeout=300)

    assert status["status"] == "completed", status
    report = sink_report(hkube, job_id)["double"]
    assert report["distinct"] == count and report["count"] == count, report


def test_stop_drains_the_messages_in_flight(hkube: Cluster, algorithms: dict[str, str]) -> None:
    count = 500
    body = stream_pipeline(algorithms, "stream-stop", [count], [10**9], double_input=[0.01])
    job_id = hkube.submit(body)
    eventually(lambda: edge_stats(hkube, job_id).get("src>double", {}).get("sent") == count, 120)
    # Every node runs (a task not started yet when the stop comes is revoked, not drained).
    eventually(lambda: edge_stats(hkube, job_id).get("double>sink", {}).get("received"), 120)
    assert edge_stats(hkube, job_id)["double>sink"]["received"] < count  # still working

    assert hkube.post("exec/stop", {"jobId": job_id, "reason": "enough"}).status_code == 200

    status = hkube.wait(job_id, timeout=60)
    assert status["status"] == "stopped"
    # The job is stopped at once; its tasks go on until their streams are empty.
    drained = lambda: edge_stats(hkube, job_id)["double>sink"]["received"] == count  # noqa: E731
    eventually(drained, 90, "the stream tasks to drain")
    stats = edge_stats(hkube, job_id)
    assert stats["src>double"]["queueSize"] == 0 and stats["double>sink"]["queueSize"] == 0


def test_a_crashed_stateful_node_starts_again_and_the_job_goes_on(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    count = 1000
    body = stream_pipeline(algorithms, "stream-stateful-crash", [count], [10**9], double_input=[0.005])
    job_id = hkube.submit(body)

    def sink_pid() -> int | None:
        for w in hkube.workers():
            if w["algorithm"] == algorithms["sink"] and w["busy"] and w.get("algorithmPid"):
                return int(w["algorithmPid"])
        return None

    def received() -> float:
        return edge_stats(hkube, job_id).get("double>sink", {}).get("received", 0)

    first = eventually(sink_pid, 120, "the sink's algorithm")
    eventually(lambda: received() > 50, 60, "messages at the sink")
    os.kill(first, signal.SIGKILL)

    eventually(lambda: (sink_pid() or first) != first, 60, "the sink started again")
    # Retry Always: the job goes on, and what the dead sink had not acknowledged comes again.
    eventually(lambda: received() == count, 120, "every message at the restarted sink")
    assert hkube.get(f"exec/status/{job_id}").json()["status"] == "active"
    assert hkube.post("exec/stop", {"jobId": job_id}).status_code == 200
    assert hkube.wait(job_id, timeout=60)["status"] == "stopped"


def test_a_stream_task_uses_the_code_api(
    hkube: Cluster, algorithms: dict[str, str], algorithm_factory: Callable[..., str]
) -> None:
    source = algorithm_factory("e2e-stream-asking-source", STREAM_ASKING_SOURCE)
    sink = algorithms["sink"]
    child = algorithm_factory("e2e-stream-child-double", DOUBLE)
    body = {
        "name": "stream-code-api",
        "kind": "stream",
        "nodes": [
            node("src", source, child, stateType="stateful"),
            node("sink", sink, 1, stateType="stateful"),
        ],
        "streaming": {"flows": {"main": "src >> sink"}},
        "options": {"ttl": 300},
    }

    status = hkube.wait(hkube.submit(body), timeout=180)

    assert status["status"] == "completed", status
    # The sub-pipeline doubled 21: the message the sink got says so.
    assert sink_report(hkube, status["jobId"]) == {
        "src": {"count": 1, "distinct": 1, "inOrder": True, "doubled": True}
    }
