"""What algorithms print, kept per task: through the API and hkubectl, on real workers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hkubectl.cli import app
from tests.e2e.algorithms import DIES, FAILS_IN_A_HELPER, PRINTS
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> dict[str, str]:
    return {
        "prints": algorithm_factory("lg-prints", PRINTS),
        "fails": algorithm_factory("lg-fails", FAILS_IN_A_HELPER),
        "dies": algorithm_factory("lg-dies", DIES),
    }


def job_logs(hkube: Cluster, job_id: str, query: str = "") -> dict[str, Any]:
    response = hkube.get(f"exec/logs/{job_id}{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def own_lines(entry: dict[str, Any]) -> set[tuple[str, str]]:
    return {(line["stream"], line["message"]) for line in entry["lines"] if not line.get("idle")}


def test_each_batch_task_keeps_its_own_stdout_and_stderr(
    hkube: Cluster, algorithms: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = {"name": "lg-batch", "nodes": [{"nodeName": "p", "algorithmName": algorithms["prints"],
                                               "input": ["#[1...3]"]}]}  # fmt: skip
    response = hkube.post("exec/raw", pipeline)
    assert response.status_code == 200, response.text
    job_id = response.json()["jobId"]
    assert hkube.wait(job_id)["status"] == "completed"

    body = job_logs(hkube, job_id)

    assert body["total"] == 3
    assert [entry["batchIndex"] for entry in body["logs"]] == [1, 2, 3]
    for entry in body["logs"]:
        value = entry["batchIndex"]  # item k of #[1...3] is k
        assert entry["nodeName"] == "p"
        assert own_lines(entry) == {
            ("stdout", f"out {value}"),
            ("stderr", f"err {value}"),
            ("stdout", f"no newline {value}"),  # an unfinished last line still belongs to its task
        }
    idle = [
        (e["batchIndex"], line["message"]) for e in body["logs"] for line in e["lines"] if line.get("idle")
    ]
    assert idle == [(1, "module loaded")]
    assert all(isinstance(line["timestamp"], int) for e in body["logs"] for line in e["lines"])

    only_two = job_logs(hkube, job_id, "?nodeName=p&batchIndex=2")
    assert [entry["batchIndex"] for entry in only_two["logs"]] == [2]

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HKUBE_ENDPOINT", hkube.base_url)
    printed = CliRunner().invoke(app, ["exec", "logs", job_id, "--node", "p"])
    assert printed.exit_code == 0, printed.output
    assert "==> p #2" in printed.stdout
    assert "[stdout] out 2" in printed.stdout and "[stderr] err 2" in printed.stdout


def test_a_failing_algorithm_keeps_its_traceback(hkube: Cluster, algorithms: dict[str, str]) -> None:
    pipeline = {"name": "lg-fail", "nodes": [{"nodeName": "f", "algorithmName": algorithms["fails"],
                                              "input": [7]}]}  # fmt: skip
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "failed"

    [entry] = job_logs(hkube, status["jobId"])["logs"]

    messages = [line["message"] for line in entry["lines"] if line["stream"] == "stderr"]
    assert entry["batchIndex"] == 0
    assert ("stdout", "about to fail") in own_lines(entry)
    assert messages[0] == "Traceback (most recent call last):"
    assert any("in helper" in m for m in messages)
    assert messages[-1] == "ValueError: cannot handle 7"


def test_a_crashed_algorithm_keeps_its_last_words(hkube: Cluster, algorithms: dict[str, str]) -> None:
    pipeline = {"name": "lg-dies", "nodes": [{"nodeName": "d", "algorithmName": algorithms["dies"],
                                              "input": [1], "retry": {"policy": "Never"}}]}  # fmt: skip
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "failed"

    [entry] = job_logs(hkube, status["jobId"])["logs"]

    assert ("stderr", "dying now") in own_lines(entry)


def test_logs_of_an_unknown_job_are_not_found(hkube: Cluster) -> None:
    response = hkube.get("exec/logs/no-such-job")

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "logs no-such-job Not Found"
