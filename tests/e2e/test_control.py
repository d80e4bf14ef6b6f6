"""Pause, resume, rerun, run-from-node, exec/algorithm and search on the real system.

The `ctl-step` algorithm appends a line to a marker file each time it runs, so a test can
count how often each node really ran."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.algorithms import STEP
from tests.e2e.harness import Cluster, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def step(algorithm_factory: Callable[..., str]) -> str:
    return algorithm_factory("ctl-step", STEP)


def node(name: str, marker: Path, pause: float, *values: object) -> dict[str, Any]:
    return {"nodeName": name, "algorithmName": "ctl-step", "input": [str(marker / name), pause, *values]}


def runs(marker: Path, name: str) -> int:
    path = marker / name
    return len(path.read_text().splitlines()) if path.exists() else 0


def result(hkube: Cluster, job_id: str) -> list[Any]:
    return [(item["nodeName"], item.get("result")) for item in hkube.results(job_id)["data"]]


def test_pause_holds_the_next_nodes_and_resume_goes_on_without_running_anything_twice(
    hkube: Cluster, step: str, tmp_path: Path
) -> None:
    pipeline = {"name": "ctl-pause", "nodes": [node("a", tmp_path, 2, 1), node("b", tmp_path, 0, "@a")]}
    job_id = hkube.post("exec/raw", pipeline).json()["jobId"]
    eventually(lambda: runs(tmp_path, "a") == 1, 60, "a never started")
    assert hkube.post("exec/pause", {"jobId": job_id}).json() == {"message": "OK"}
    assert hkube.get(f"exec/status/{job_id}").json()["status"] == "paused"
    # a goes on while paused and its result is recorded; b is not started.
    eventually(
        lambda: hkube.get(f"exec/status/{job_id}").json()["data"]["states"].get("succeed") == 1,
        60,
        "a's result was not recorded while paused",
    )
    time.sleep(1)
    status = hkube.get(f"exec/status/{job_id}").json()
    assert status["status"] == "paused", status
    assert runs(tmp_path, "b") == 0

    assert hkube.post("exec/resume", {"jobId": job_id}).json() == {"message": "OK"}
    final = hkube.wait(job_id)
    assert final["status"] == "completed", final
    assert result(hkube, job_id) == [("b", 3)]
    assert (runs(tmp_path, "a"), runs(tmp_path, "b")) == (1, 1)
    trail = hkube.get(f"exec/auditTrail/{job_id}").json()
    assert [trail[str(i)]["action"] for i in range(3)] == ["resume", "pause", "run"]


def test_rerun_gives_the_same_result_under_a_new_job(hkube: Cluster, step: str, tmp_path: Path) -> None:
    pipeline = {
        "name": "ctl-rerun",
        "nodes": [node("a", tmp_path, 0, "@flowInput.start"), node("b", tmp_path, 0, "@a")],
        "flowInput": {"start": 10},
    }
    first = hkube.run("exec/raw", pipeline)
    assert first["status"] == "completed", first
    response = hkube.post("exec/rerun", {"jobId": first["jobId"]})
    assert response.status_code == 200, response.text
    second_id = response.json()["jobId"]
    assert second_id != first["jobId"]
    assert hkube.wait(second_id)["status"] == "completed"
    assert result(hkube, second_id) == result(hkube, first["jobId"]) == [("b", 12)]
    assert hkube.get(f"exec/pipelines/{second_id}").json()["types"] == ["raw", "rerun"]
    assert hkube.get(f"exec/flowInput/{second_id}").json() == {"start": 10}
    assert (runs(tmp_path, "a"), runs(tmp_path, "b")) == (2, 2)


def test_caching_runs_only_the_node_and_its_descendants(hkube: Cluster, step: str, tmp_path: Path) -> None:
    # a → b → c, and c also reads a (a parent outside the cut of a re-run node).
    pipeline = {
        "name": "ctl-cache",
        "nodes": [
            node("a", tmp_path, 0, "@flowInput.start"),
            node("b", tmp_path, 0, "@a"),
            node("c", tmp_path, 0, "@b", "@a"),
        ],
        "flowInput": {"start": 1},
    }
    first = hkube.run("exec/raw", pipeline)
    assert first["status"] == "completed", first
    assert result(hkube, first["jobId"]) == [("c", 6)]  # a=2, b=3, c=1+3+2
    response = hkube.post("exec/caching", {"jobId": first["jobId"], "nodeName": "b"})
    assert response.status_code == 200, response.text
    cached_id = response.json()["jobId"]
    final = hkube.wait(cached_id)
    assert final["status"] == "completed", final
    assert result(hkube, cached_id) == [("c", 6)]
    assert (runs(tmp_path, "a"), runs(tmp_path, "b"), runs(tmp_path, "c")) == (1, 2, 2)
    executed = hkube.get(f"exec/pipelines/{cached_id}").json()
    assert executed["name"] == "ctl-cache-b"
    assert executed["types"] == ["raw", "node"]
    assert [n["nodeName"] for n in executed["nodes"]] == ["b", "c"]


def test_caching_below_a_batch_node_reads_the_old_items(hkube: Cluster, step: str, tmp_path: Path) -> None:
    pipeline = {
        "name": "ctl-cache-batch",
        "nodes": [node("a", tmp_path, 0, "#@flowInput.items"), node("b", tmp_path, 0, "@a")],
        "flowInput": {"items": [1, 2, 3]},
    }
    first = hkube.run("exec/raw", pipeline)
    assert first["status"] == "completed", first
    assert result(hkube, first["jobId"]) == [("b", 10)]  # 1 + (2 + 3 + 4)
    cached_id = hkube.post("exec/caching", {"jobId": first["jobId"], "nodeName": "b"}).json()["jobId"]
    assert hkube.wait(cached_id)["status"] == "completed"
    assert result(hkube, cached_id) == [("b", 10)]
    assert (runs(tmp_path, "a"), runs(tmp_path, "b")) == (3, 2)


def test_exec_algorithm_runs_one_algorithm(hkube: Cluster, step: str, tmp_path: Path) -> None:
    response = hkube.post("exec/algorithm", {"name": "ctl-step", "input": [str(tmp_path / "x"), 0, 41]})
    assert response.status_code == 200, response.text
    job_id = response.json()["jobId"]
    assert hkube.wait(job_id)["status"] == "completed"
    assert result(hkube, job_id) == [("ctl-step", 42)]
    assert hkube.get(f"exec/pipelines/{job_id}").json()["types"] == ["algorithm"]


def test_search_finds_jobs_by_name_status_and_algorithm(hkube: Cluster, step: str, tmp_path: Path) -> None:
    job_id = hkube.run("exec/raw", {"name": "ctl-search", "nodes": [node("a", tmp_path, 0, 1)]})["jobId"]
    by_name = hkube.post("exec/search", {"query": {"pipelineName": "ctl-search"}}).json()
    assert [hit["jobId"] for hit in by_name["hits"]] == [job_id]
    assert by_name["hits"][0]["status"]["status"] == "completed"
    by_status = hkube.post("exec/search", {"query": {"pipelineStatus": "completed"}, "limit": 100}).json()
    assert job_id in [hit["jobId"] for hit in by_status["hits"]]
    by_algorithm = hkube.get("exec/search?algorithmName=ctl-step&limit=100").json()
    assert job_id in [hit["jobId"] for hit in by_algorithm["hits"]]
    assert all(
        any(n["algorithmName"] == "ctl-step" for n in hit["pipeline"]["nodes"])
        for hit in by_algorithm["hits"]
    )
    assert hkube.post("exec/search", {"query": {"algorithmName": "e2e-nope"}}).json()["hits"] == []
