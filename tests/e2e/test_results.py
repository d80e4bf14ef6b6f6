"""What a job hands out, on real workers: output nodes, task progress reports, and results
too big to inline (the big-data info and the storage stream endpoints)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import msgpack
import pytest

from tests.e2e.algorithms import BIG, DOUBLE, FIRST, PROGRESS
from tests.e2e.harness import Cluster, eventually, node

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> dict[str, str]:
    return {
        "echo": algorithm_factory("e2e-res-echo", FIRST),
        "double": algorithm_factory("e2e-res-double", DOUBLE),
        "progress": algorithm_factory("e2e-res-progress", PROGRESS),
        "big": algorithm_factory("e2e-res-big", BIG),
    }


def test_an_output_node_returns_its_resolved_input_and_other_sinks_stay_in_the_results(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "e2e-output",
        "nodes": [
            node("A", algorithms["echo"], "@flowInput.x"),
            node("B", algorithms["double"], "#@flowInput.list"),
            node("side", algorithms["echo"], "@A"),
            {"nodeName": "out", "kind": "output", "input": ["@A", {"doubled": "@B"}, "@flowInput.x"]},
        ],
        "flowInput": {"x": 7, "list": [1, 2, 3]},
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    assert status["data"]["states"] == {"succeed": 6}
    data = hkube.results(status["jobId"])["data"]
    assert data == [
        {"nodeName": "side", "algorithmName": algorithms["echo"], "result": 7},
        {"nodeName": "out", "algorithmName": "e2e-output-output", "result": [7, {"doubled": [2, 4, 6]}, 7]},
    ]
    graph = hkube.get(f"graph/raw/{status['jobId']}").json()
    out = next(n for n in graph["nodes"] if n["nodeName"] == "out")
    assert (out["algorithmName"], out["status"]) == ("e2e-output-output", "succeed")


def test_an_output_node_over_a_batch_has_one_result_per_item(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "e2e-output-batch",
        "nodes": [
            node("B", algorithms["double"], "#@flowInput.list"),
            {"nodeName": "out", "kind": "output", "input": ["#@B", "tag"]},
        ],
        "flowInput": {"list": [1, 2, 3]},
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    assert hkube.results(status["jobId"])["data"] == [
        {
            "nodeName": "out",
            "algorithmName": "e2e-output-batch-output",
            "batchIndex": i,
            "result": [2 * i, "tag"],
        }
        for i in (1, 2, 3)
    ]


def test_progress_reported_by_a_running_algorithm_shows_in_the_graph(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "e2e-progress",
        "nodes": [
            node("single", algorithms["progress"], 6),
            node("many", algorithms["progress"], "#[6,6]"),
        ],
    }
    response = hkube.post("exec/raw", pipeline)
    assert response.status_code == 200, response.text
    job_id = response.json()["jobId"]

    # The plain node and the batch items may run one after the other (one worker for the
    # algorithm), so each is looked for while it runs, not all at the same moment.
    seen: dict[str, dict[str, Any]] = {}

    def running_reports() -> list[dict[str, Any]] | None:
        graph = hkube.get(f"graph/raw/{job_id}").json()
        nodes = {n["nodeName"]: n for n in graph["nodes"]}
        single, items = nodes["single"], nodes["many"].get("batch") or []
        if single.get("progress") is not None:
            seen.setdefault("single", single)
        for item in items:
            if item.get("progress") is not None:
                seen.setdefault("item", item)
        return list(seen.values()) if len(seen) == 2 else None

    reports = eventually(running_reports, 90, "progress reports in graph/raw")
    for report in reports:
        assert (report["status"], report["progress"], report["progressMessage"]) == ("active", 50, "half")
    final = hkube.wait(job_id, timeout=90)
    assert final["status"] == "completed", final


def test_a_big_result_is_a_reference_read_back_with_the_stream_api(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {"name": "e2e-big", "nodes": [node("big", algorithms["big"], 200_000)]}
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    (entry,) = hkube.results(status["jobId"])["data"]
    assert "result" not in entry
    info = entry["info"]
    assert info["isBigData"] is True
    assert info["size"] >= 200_000
    assert info["message"] == "data too large (200 kB), use the stream api"

    streamed = hkube.get(f"storage/stream/custom/{info['path']}")
    assert streamed.status_code == 200
    assert msgpack.unpackb(streamed.content) == "x" * 200_000

    refused = hkube.get(f"storage/values/{info['path']}")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == info["message"]

    download = hkube.get(f"storage/download/pipeline/result/{status['jobId']}")
    assert download.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert sorted(archive.namelist()) == ["big.hkube", "metadata.json"]
    assert msgpack.unpackb(archive.read("big.hkube")) == "x" * 200_000


def test_stream_endpoints_answer_404_for_unknown_paths(hkube: Cluster) -> None:
    response = hkube.get("storage/stream/custom/local-hkube/no-such-job/no-such-task")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "stream local-hkube/no-such-job/no-such-task Not Found"
