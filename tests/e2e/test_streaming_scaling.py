"""Stream jobs end to end, issue 13's items 4, 6 and 7: a stateless node scaled up under load
and back to its minimum when idle, a gateway's POST reaching the sink, the per-edge figures in
exec/status and graph/raw. A cluster of its own: the scale-down hysteresis is 2 s here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.algorithms import STREAM_DOUBLE, STREAM_SINK, STREAM_SOURCE, algorithm_applier
from tests.e2e.harness import Cluster, eventually, node, running_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("hkube-e2e-scaling")
    with running_cluster(home, HKUBE_STREAMING_SCALE_DOWN_SECONDS="2") as running:
        yield running


@pytest.fixture(scope="module")
def algorithms(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    apply = algorithm_applier(cluster, tmp_path_factory.mktemp("algorithms"))
    return {
        "source": apply("e2e-scale-source", STREAM_SOURCE),
        "double": apply("e2e-scale-double", STREAM_DOUBLE),
        "sink": apply("e2e-scale-sink", STREAM_SINK),
    }


def busy_replicas(cluster: Cluster, algorithm: str) -> int:
    return sum(1 for w in cluster.workers() if w["algorithm"] == algorithm and w.get("busy"))


def test_a_stateless_node_scales_up_under_load_and_back_down_when_idle(
    cluster: Cluster, algorithms: dict[str, str]
) -> None:
    count = 3000
    body = {
        "name": "stream-scaling",
        "kind": "stream",
        "nodes": [
            node("src", algorithms["source"], count, stateType="stateful"),
            node("double", algorithms["double"], 0.02, stateType="stateless", maxStatelessCount=4),
            node("sink", algorithms["sink"], 10**9, stateType="stateful"),
        ],
        "streaming": {"flows": {"main": "src >> double >> sink"}},
        "options": {"ttl": 900},
    }
    job_id = cluster.submit(body)
    double = algorithms["double"]

    eventually(lambda: busy_replicas(cluster, double) >= 3, 300, "three double replicas")

    def figures() -> dict[str, Any] | None:
        status = cluster.get(f"exec/status/{job_id}").json()
        metrics: dict[str, Any] = status["data"].get("metrics") or {}
        return status if metrics.get("src>double", {}).get("throughput") else None

    status = eventually(figures, 120, "throughput in exec/status")
    assert status["data"]["progress"] >= 0  # the median throughput
    edge = status["data"]["metrics"]["double>sink"]
    assert {"queueSize", "throughput", "processingTimeMs", "queueTimeMs", "roundTripMs", "dropped"} <= set(
        edge
    )
    assert edge["roundTripMs"] >= edge["queueTimeMs"] >= 0
    graph = cluster.get(f"graph/raw/{job_id}").json()
    assert all("metrics" in e["value"] for e in graph["edges"]), graph["edges"]

    def all_received() -> bool:
        metrics = cluster.get(f"exec/status/{job_id}").json()["data"].get("metrics") or {}
        return bool(metrics.get("double>sink", {}).get("received") == count)

    eventually(all_received, 600, "every message at the sink")
    eventually(lambda: busy_replicas(cluster, double) == 1, 180, "back to one double replica")

    assert cluster.post("exec/stop", {"jobId": job_id, "reason": "done"}).status_code == 200
    assert cluster.wait(job_id, timeout=60)["status"] == "stopped"


def test_a_gateway_post_reaches_the_sink(cluster: Cluster, algorithms: dict[str, str]) -> None:
    body = {
        "name": "stream-gateway",
        "kind": "stream",
        "nodes": [
            {"nodeName": "gw", "kind": "gateway", "spec": {"name": "e2e-gw"}},
            node("double", algorithms["double"], stateType="stateless"),
            node("sink", algorithms["sink"], 5, stateType="stateful"),
        ],
        "streaming": {"flows": {"main": "gw >> double >> sink"}},
        "options": {"ttl": 600},
    }
    response = cluster.post("exec/raw", body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["gateways"] == [{"nodeName": "gw", "url": "hkube/gateway/e2e-gw"}]
    url = cluster.url(f"{answer['gateways'][0]['url']}/streaming/message", prefix="/")
    for n in range(5):
        sent = requests.post(url, json={"n": n}, timeout=30)
        assert sent.status_code == 200, sent.text
        assert sent.json()["message"] == "OK"

    status = cluster.wait(answer["jobId"], timeout=300)

    assert status["status"] == "completed", status
    (entry,) = [r for r in cluster.results(answer["jobId"])["data"] if r["nodeName"] == "sink"]
    assert entry["result"] == {"double": {"count": 5, "distinct": 5, "inOrder": True, "doubled": True}}
    gone = requests.post(url, json={"n": 99}, timeout=30)
    assert gone.status_code == 404 and gone.json()["error"]["message"] == "gateway e2e-gw Not Found"
