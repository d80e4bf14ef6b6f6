"""kubectl's habits: -o json|yaml|table, logs -f, pause/resume/rerun, completion, upload progress."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from typer.testing import Result

from hkubectl.client import HkubeClient
from tests.cli.conftest import PREFIX, FakeHkube, Recorded

Run = Callable[..., Result]

ALGORITHMS = [
    {"name": "green-alg", "env": "python", "version": "v1", "cpu": 0.5, "mem": "256Mi"},
    {
        "name": "yellow-alg",
        "algorithmImage": "me/yellow:2",
        "version": "v7",
        "cpu": 2,
        "mem": "1Gi",
        "gpu": 1,
    },
]


def test_list_prints_names_by_default_and_whole_entries_with_o(hkubectl: Run, fake_hkube: FakeHkube) -> None:
    fake_hkube.on("GET", "store/algorithms", 200, ALGORITHMS)

    assert hkubectl("algorithm", "list").stdout.split() == ["green-alg", "yellow-alg"]
    assert json.loads(hkubectl("algorithm", "list", "-o", "json").stdout) == ALGORITHMS
    assert yaml.safe_load(hkubectl("algorithm", "list", "--output", "yaml").stdout) == ALGORITHMS


def test_table_has_kubectl_headers_and_aligned_columns(hkubectl: Run, fake_hkube: FakeHkube) -> None:
    fake_hkube.on("GET", "store/algorithms", 200, ALGORITHMS)

    result = hkubectl("algorithm", "list", "-o", "table")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ENV", "IMAGE", "VERSION", "CPU", "MEM", "GPU"]
    assert lines[1].split() == ["green-alg", "python", "<none>", "v1", "0.5", "256Mi", "<none>"]
    assert lines[2].split() == ["yellow-alg", "<none>", "me/yellow:2", "v7", "2", "1Gi", "1"]
    assert lines[0].index("IMAGE") == lines[2].index("me/yellow:2")


def test_get_commands_take_o(hkubectl: Run, fake_hkube: FakeHkube) -> None:
    fake_hkube.on(
        "GET",
        "store/pipelines/simple",
        200,
        {"name": "simple", "nodes": [{"nodeName": "a"}, {"nodeName": "b"}]},
    )
    data = {"progress": 50, "details": "50% completed"}
    fake_hkube.on(
        "GET", "exec/status/j1", 200, {"jobId": "j1", "pipeline": "simple", "status": "active", "data": data}
    )

    pipeline = hkubectl("pipeline", "get", "simple", "-o", "table").stdout.splitlines()
    assert pipeline[0].split()[:2] == ["NAME", "NODES"] and pipeline[1].split()[:2] == ["simple", "a,b"]
    status = hkubectl("exec", "status", "j1", "-o", "table").stdout.splitlines()
    assert status[0].split() == ["JOBID", "PIPELINE", "STATUS", "PROGRESS", "DETAILS"]
    assert status[1].split() == ["j1", "simple", "active", "50", "50%", "completed"]
    assert json.loads(hkubectl("exec", "status", "j1", "-o", "json").stdout)["status"] == "active"


def test_an_unknown_output_format_is_refused(hkubectl: Run, fake_hkube: FakeHkube) -> None:
    result = hkubectl("algorithm", "list", "-o", "xml")
    assert result.exit_code == 2
    assert "xml" in result.stderr
    assert fake_hkube.requests == []


def test_pause_resume_rerun_post_the_job_id(hkubectl: Run, fake_hkube: FakeHkube) -> None:
    fake_hkube.on("POST", "exec/pause/", 200, {"message": "OK"})
    fake_hkube.on("POST", "exec/resume/", 200, {"message": "OK"})
    fake_hkube.on("POST", "exec/rerun/", 200, {"jobId": "j2"})

    for command in ("pause", "resume"):
        result = hkubectl("--json", "exec", command, "j1")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"message": "OK"}
    rerun = hkubectl("--json", "exec", "rerun", "j1")
    assert json.loads(rerun.stdout) == {"jobId": "j2"}
    assert [(c.path, c.json()) for c in fake_hkube.requests] == [
        (PREFIX + "exec/pause/", {"jobId": "j1"}),
        (PREFIX + "exec/resume/", {"jobId": "j1"}),
        (PREFIX + "exec/rerun/", {"jobId": "j1"}),
    ]


def _log(task: str, batch: int, messages: list[str], truncated: int = 0) -> dict[str, object]:
    lines = [{"stream": "stdout", "message": m} for m in messages]
    return {"nodeName": "a", "taskId": task, "batchIndex": batch, "truncated": truncated, "lines": lines}


def test_logs_follow_prints_each_task_once_as_it_appears_until_the_job_ends(
    hkubectl: Run, fake_hkube: FakeHkube, monkeypatch: object
) -> None:
    import hkubectl.tasklogs as tasklogs

    monkeypatch.setattr(tasklogs, "FOLLOW_POLL_S", 0.0)  # type: ignore[attr-defined]
    fake_hkube.sequence("GET", "exec/status/j1", [(200, {"status": "active"}), (200, {"status": "active"}),
                                                  (200, {"status": "completed"})])  # fmt: skip
    fake_hkube.sequence(
        "GET",
        "exec/logs/j1",
        [
            (200, {"logs": [_log("t1", 1, ["one", "two"])]}),
            # t1 again, now shown from its 2nd line (the server keeps the last lines), and t2 appears
            (200, {"logs": [_log("t1", 1, ["two"], truncated=1), _log("t2", 2, ["three"])]}),
            (200, {"logs": [_log("t1", 1, ["two"], truncated=1), _log("t2", 2, ["three", "four"])]}),
        ],
    )

    result = hkubectl("exec", "logs", "j1", "-f", "--node", "a")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "==> a #1 (t1)",
        "[stdout] one",
        "[stdout] two",
        "==> a #2 (t2)",
        "[stdout] three",
        "[stdout] four",
    ]
    assert "job j1 completed" in result.stderr
    assert all(c.query == {"nodeName": ["a"]} for c in fake_hkube.calls("GET", "exec/logs/j1"))


def test_shell_completion_is_offered(hkubectl: Run) -> None:
    result = hkubectl("--show-completion", "bash")
    assert result.exit_code == 0, result.output
    assert "_HKUBECTL_COMPLETE" in result.stdout


def test_an_upload_reports_its_progress_and_arrives_whole(fake_hkube: FakeHkube) -> None:
    seen: list[tuple[int, int]] = []
    fake_hkube.on_call("POST", "store/algorithms/apply", lambda r: (200, {"size": len(r.body)}))
    content = bytes(range(256)) * 400  # 100 KiB: several blocks
    client = HkubeClient(fake_hkube.url)

    answer = client.post(
        "store/algorithms/apply",
        files=[("payload", (None, '{"name": "x"}')), ("file", ("code.tar.gz", content, "application/gzip"))],
        progress=lambda sent, total: seen.append((sent, total)),
    )

    [call] = fake_hkube.requests
    fields = call.multipart()
    assert fields["payload"] == (None, b'{"name": "x"}')
    assert fields["file"] == ("code.tar.gz", content)
    total = answer["size"]
    assert len(seen) > 3
    assert seen[-1] == (total, total)
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)


def test_apply_with_code_uploads_through_the_progress_path(
    hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path
) -> None:
    def applied(request: Recorded) -> tuple[int, object]:
        return 200, {"messages": ["ok"], "algorithm": {"name": "coded"}}

    fake_hkube.on_call("POST", "store/algorithms/apply", applied)
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("def start(args):\n    return 1\n")

    result = hkubectl("algorithm", "apply", "coded", "--env", "python", "--codePath", str(code),
                      "--entryPoint", "main.py")  # fmt: skip

    assert result.exit_code == 0, result.output
    fields = fake_hkube.requests[0].multipart()
    assert fields["file"][0] == "coded.tar.gz" and fields["file"][1][:2] == b"\x1f\x8b"
    assert json.loads(fields["payload"][1])["name"] == "coded"
