"""The runtime graph and the job pages on the real system: real workers fill in per-item status."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.algorithms import FIRST, fails_when, sleeps_then_first
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> dict[str, str]:
    return {
        "echo": algorithm_factory("ui-echo", FIRST),
        "picky": algorithm_factory("ui-picky", fails_when("value == 3", "'three is not allowed'")),
        "slow": algorithm_factory("ui-slow", sleeps_then_first(0.4)),
    }


def pipeline(
    name: str, batch_algorithm: str, gather_algorithm: str, items: str = "#[1...5]"
) -> dict[str, Any]:
    return {
        "name": name,
        "nodes": [
            {"nodeName": "items", "algorithmName": batch_algorithm, "input": [items]},
            {"nodeName": "gather", "algorithmName": gather_algorithm, "input": ["@items"]},
        ],
    }


def nodes_of(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["nodeName"]: node for node in graph["nodes"]}


def test_graph_shows_every_item_of_a_finished_batch_and_the_job_page_renders(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    status = hkube.run("exec/raw", pipeline("ui-graph", algorithms["echo"], algorithms["echo"]))
    assert status["status"] == "completed", status
    job_id = status["jobId"]

    response = hkube.get(f"graph/raw/{job_id}")
    assert response.status_code == 200, response.text
    graph = response.json()
    nodes = nodes_of(graph)
    items = nodes["items"]
    assert items["status"] == "succeed"
    assert items["algorithmName"] == "ui-echo"
    assert [(i["batchIndex"], i["status"]) for i in items["batch"]] == [(k, "succeed") for k in range(1, 6)]
    assert all(i["startTime"] and i["endTime"] for i in items["batch"])
    assert items["batchInfo"] == {"idle": 0, "completed": 5, "errors": 0, "running": 0, "total": 5}
    gather = nodes["gather"]
    assert gather["status"] == "succeed"
    assert gather["level"] == 1 and len(gather["taskId"]) == 8
    assert graph["edges"] == [{"from": "items", "to": "gather", "value": {"types": ["waitNode", "input"]}}]

    sliced = hkube.get(f"graph/parsed/{job_id}?node=items&order=desc&from=0&to=2").json()
    assert [i["batchIndex"] for i in sliced["nodes"][0]["batch"]] == [5, 4]

    page = requests.get(f"{hkube.base_url}/jobs/{job_id}/", timeout=30)
    assert page.status_code == 200
    assert job_id in page.text and '<svg id="graph"' in page.text
    listing = requests.get(f"{hkube.base_url}/jobs/list.json?pipeline=ui-graph", timeout=30).json()
    assert job_id in [row["jobId"] for row in listing["jobs"]]
    script = requests.get(f"{hkube.base_url}/jobs/assets/job.js", timeout=30)
    assert script.status_code == 200 and "graph/parsed" in script.text


def test_graph_keeps_the_error_of_a_failed_item(hkube: Cluster, algorithms: dict[str, str]) -> None:
    status = hkube.run("exec/raw", pipeline("ui-graph-picky", algorithms["picky"], algorithms["echo"]))
    # One failure in five is under the default 80% batch tolerance: the job completes.
    assert status["status"] == "completed", status
    items = nodes_of(hkube.get(f"graph/raw/{status['jobId']}").json())["items"]
    by_index = {i["batchIndex"]: i for i in items["batch"]}
    assert by_index[3]["status"] == "failed"
    assert "three is not allowed" in by_index[3]["error"]
    assert [by_index[k]["status"] for k in (1, 2, 4, 5)] == ["succeed"] * 4
    assert items["batchInfo"]["errors"] == 1
    assert items["states"] == {"succeed": 4, "failed": 1}


def test_graph_of_a_running_batch_accounts_for_every_item(hkube: Cluster, algorithms: dict[str, str]) -> None:
    response = hkube.post(
        "exec/raw", pipeline("ui-graph-running", algorithms["slow"], algorithms["echo"], "#[1...8]")
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["jobId"]
    seen_running = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        graph = hkube.get(f"graph/parsed/{job_id}?node=items").json()
        node = graph["nodes"][0]
        if node["status"] == "active":
            seen_running = True
            assert len(node["batch"]) == 8
            assert sum(node["states"].values()) == 8
            assert {i["status"] for i in node["batch"]} <= {"creating", "active", "succeed"}
        if node["status"] == "succeed":
            break
        time.sleep(0.1)
    assert seen_running
    final = hkube.wait(job_id)
    assert final["status"] == "completed", final


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="no /usr/bin/chromium")
def test_job_page_draws_the_graph_in_a_headless_browser(
    hkube: Cluster, algorithms: dict[str, str], tmp_path: Path
) -> None:
    status = hkube.run("exec/raw", pipeline("ui-graph-browser", algorithms["echo"], algorithms["echo"]))
    url = f"{hkube.base_url}/jobs/{status['jobId']}/"
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    # The script drew one box per node, with the batch's counts.
    assert dom.stdout.count('class="node node-succeed"') == 2, dom.stderr[-2000:]
    assert "5/5" in dom.stdout
    shot = tmp_path / "job.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1280,900", f"--screenshot={shot}", url],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.stat().st_size > 10_000
