"""Wait-any (`*@`): child items start as their parent items are stored, paired by index."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.algorithms import ECHO, fails_when, sleeps_then_first
from tests.e2e.harness import Cluster, node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> dict[str, str]:
    return {
        "slow": algorithm_factory("wa-slow", sleeps_then_first(0.3)),
        "echo": algorithm_factory("wa-echo", ECHO),
        "fail": algorithm_factory("wa-fail-on-two", fails_when("value == 2", "'two'")),
    }


def items(hkube: Cluster, job_id: str, name: str) -> list[dict[str, object]]:
    graph = hkube.get(f"graph/parsed/{job_id}?node={name}").json()
    return list(graph["nodes"][0]["batch"])


def test_a_child_item_starts_as_soon_as_its_parent_item_is_stored(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    # Warm both algorithms' workers first, so start-up time does not hide the streaming.
    warm = {
        "name": "wa-warm",
        "nodes": [node("a", algorithms["slow"], 0), node("b", algorithms["echo"], "@a")],
    }
    assert hkube.run("exec/raw", warm)["status"] == "completed"
    pipeline = {
        "name": "wa-stream",
        "nodes": [node("green", algorithms["slow"], "#[1...4]"), node("red", algorithms["echo"], "*@green")],
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    data = hkube.results(status["jobId"])["data"]
    assert [(d["batchIndex"], d["result"]) for d in data] == [(1, [1]), (2, [2]), (3, [3]), (4, [4])]
    green, red = items(hkube, status["jobId"], "green"), items(hkube, status["jobId"], "red")
    last_green_end = max(int(i["endTime"]) for i in green)  # type: ignore[call-overload]
    first_red_start = min(int(i["startTime"]) for i in red)  # type: ignore[call-overload]
    assert first_red_start < last_green_end, (green, red)


def test_two_wait_any_parents_pair_their_items_by_index(hkube: Cluster, algorithms: dict[str, str]) -> None:
    pipeline = {
        "name": "wa-pair",
        "nodes": [
            node("green", algorithms["slow"], "#[1...3]"),
            node("yellow", algorithms["slow"], "#[10...12]"),
            node("red", algorithms["echo"], "*@green", "*@yellow"),
        ],
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    data = hkube.results(status["jobId"])["data"]
    assert [(d["batchIndex"], d["result"]) for d in data] == [(1, [1, 10]), (2, [2, 11]), (3, [3, 12])]


def test_wait_any_with_a_wait_node_parent_gets_its_whole_result(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "wa-mixed",
        "nodes": [
            node("green", algorithms["slow"], "#[1...3]"),
            node("white", algorithms["echo"], "w"),
            node("red", algorithms["echo"], "@white", "*@green"),
        ],
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    data = hkube.results(status["jobId"])["data"]
    assert [d["result"] for d in data] == [[["w"], 1], [["w"], 2], [["w"], 3]]


def test_a_failed_parent_item_gives_null_to_its_child_item(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "wa-null",
        "nodes": [node("green", algorithms["fail"], "#[1...3]"), node("red", algorithms["echo"], "*@green")],
        "options": {"batchTolerance": 100},
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    data = hkube.results(status["jobId"])["data"]
    assert [(d["batchIndex"], d["result"]) for d in data] == [(1, [1]), (2, [None]), (3, [3])]


def test_a_batch_input_next_to_wait_any_runs_once_per_parent_item(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "wa-batch",
        "nodes": [
            node("green", algorithms["slow"], "#[1...2]"),
            node("red", algorithms["echo"], "*@green", "#[x,y,z]"),
        ],
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    data = hkube.results(status["jobId"])["data"]
    expected = [[green, letter] for green in (1, 2) for letter in ("x", "y", "z")]
    assert [(d["batchIndex"], d["result"]) for d in data] == list(enumerate(expected, start=1))
    # A run from a node of a pipeline with `*@` is refused with HKube's message (semantics §6.1).
    response = hkube.post("exec/caching", {"jobId": status["jobId"], "nodeName": "red"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == "relation waitAny for node red is not allowed"
