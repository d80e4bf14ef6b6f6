from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.cli.conftest import PREFIX, FakeHkube

Run = Callable[..., Result]

PIPELINE = {
    "name": "simple",
    "nodes": [{"nodeName": "one", "algorithmName": "green-alg", "input": ["@flowInput.x"]}],
}


def running(progress: float) -> tuple[int, dict[str, object]]:
    return 200, {"status": "active", "data": {"progress": progress, "details": f"{progress}% completed"}}


def test_exec_raw_posts_the_file_waits_and_prints_the_result(
    hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path
):
    descriptor = tmp_path / "simple.json"
    descriptor.write_text(json.dumps(PIPELINE))
    fake_hkube.on("POST", "exec/raw/", 200, {"jobId": "qohsjh0in1a4"})
    fake_hkube.sequence(
        "GET",
        "exec/status/qohsjh0in1a4",
        [running(0), running(50), (200, {"status": "completed", "data": {"progress": 100}})],
    )
    fake_hkube.on(
        "GET",
        "exec/results/qohsjh0in1a4",
        200,
        {"status": "completed", "data": [{"nodeName": "one", "result": 42}]},
    )

    result = hkubectl("--json", "exec", "raw", "--f", str(descriptor))

    assert result.exit_code == 0, result.output
    [start] = fake_hkube.calls("POST")
    assert start.path == PREFIX + "exec/raw/"
    assert start.json() == PIPELINE
    assert len(fake_hkube.calls("GET", "exec/status/qohsjh0in1a4")) == 3
    assert json.loads(result.stdout) == {
        "jobId": "qohsjh0in1a4",
        "jobStatus": "completed",
        "jobResult": [{"nodeName": "one", "result": 42}],
    }


def test_exec_stored_merges_the_name_with_the_file(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    overrides = tmp_path / "input.yaml"
    overrides.write_text("flowInput:\n  x: [1, 2]\n")
    fake_hkube.on("POST", "exec/stored/", 200, {"jobId": "job1"})

    result = hkubectl("exec", "stored", "simple", "-f", str(overrides), "--noWait", "--json")

    assert result.exit_code == 0, result.output
    assert fake_hkube.calls("POST", "exec/stored/")[0].json() == {
        "flowInput": {"x": [1, 2]},
        "name": "simple",
    }
    assert json.loads(result.stdout) == {"jobId": "job1"}
    assert fake_hkube.calls("GET") == []


def test_exec_algorithm_without_results(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("POST", "exec/algorithm/", 200, {"jobId": "job2"})
    fake_hkube.on("GET", "exec/status/job2", 200, {"status": "completed", "data": {"progress": 100}})

    result = hkubectl("--json", "exec", "algorithm", "green-alg", "--noResult")

    assert result.exit_code == 0, result.output
    assert fake_hkube.calls("POST")[0].json() == {"name": "green-alg"}
    assert fake_hkube.calls("GET", "exec/results/job2") == []
    assert json.loads(result.stdout) == {"jobId": "job2", "jobStatus": "completed"}


def test_a_failed_job_prints_its_error_and_exits_non_zero(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("POST", "exec/algorithm/", 200, {"jobId": "job3"})
    fake_hkube.on("GET", "exec/status/job3", 200, {"status": "failed", "error": "division by zero"})
    fake_hkube.on("GET", "exec/results/job3", 200, {"status": "failed", "error": "division by zero"})

    result = hkubectl("--json", "exec", "algorithm", "green-alg")

    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "jobId": "job3",
        "jobStatus": "failed",
        "jobResult": "division by zero",
    }


def test_a_stopped_job_reports_the_reason(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("POST", "exec/stored/", 200, {"jobId": "job4"})
    fake_hkube.on("GET", "exec/status/job4", 200, {"status": "stopped", "reason": "enough"})
    fake_hkube.on("GET", "exec/results/job4", 200, {"status": "stopped", "reason": "enough"})

    result = hkubectl("exec", "stored", "simple")

    assert result.exit_code == 1
    assert "jobStatus: stopped" in result.stdout
    assert "jobResult: enough" in result.stdout


def test_job_reads_use_the_right_paths(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("GET", "exec/status/j1", 200, {"status": "active"})
    fake_hkube.on("GET", "exec/results/j1", 200, {"status": "completed"})
    fake_hkube.on("GET", "exec/pipelines/j1", 200, {"jobId": "j1", "name": "simple"})

    assert json.loads(hkubectl("-j", "exec", "status", "j1").stdout) == {"status": "active"}
    assert json.loads(hkubectl("-j", "exec", "result", "j1").stdout) == {"status": "completed"}
    assert json.loads(hkubectl("-j", "exec", "get", "j1").stdout) == {"jobId": "j1", "name": "simple"}


def test_exec_stop_sends_job_id_and_reason(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("POST", "exec/stop/", 200, {"stoppedJobIds": ["j1"]})

    result = hkubectl("exec", "stop", "j1", "no longer needed", "--json")

    assert result.exit_code == 0, result.output
    assert fake_hkube.calls("POST", "exec/stop/")[0].json() == {"jobId": "j1", "reason": "no longer needed"}
    assert json.loads(result.stdout) == {"stoppedJobIds": ["j1"]}


def test_exec_logs_passes_the_node_and_reports_a_missing_endpoint(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("GET", "exec/logs/j1", 404, None)

    result = hkubectl("exec", "logs", "j1", "--node", "one")

    assert result.exit_code == 1
    [call] = fake_hkube.requests
    assert call.path == PREFIX + "exec/logs/j1"
    assert call.query == {"nodeName": ["one"]}
    assert result.stderr.strip() == f"error: this HKube server does not serve GET {PREFIX}exec/logs/j1 (404)"
    assert "Traceback" not in result.output


def test_exec_logs_prints_messages(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("GET", "exec/logs/j1", 200, [{"nodeName": "one", "level": "info", "message": "hello"}])

    result = hkubectl("exec", "logs", "j1")

    assert result.stdout.strip() == "one info: hello"


def test_yaml_dates_and_non_ascii_text_reach_the_server_as_json(
    hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path
):
    descriptor = tmp_path / "p.yaml"
    descriptor.write_text("name: p\nflowInput: {when: 2024-01-02, text: שלום}\n", encoding="utf-8")
    fake_hkube.on("POST", "exec/raw/", 200, {"jobId": "j9"})

    result = hkubectl("exec", "raw", "--f", str(descriptor), "--noWait")

    assert result.exit_code == 0, result.output
    assert fake_hkube.calls("POST")[0].json() == {
        "name": "p",
        "flowInput": {"when": "2024-01-02", "text": "שלום"},
    }
