"""Dev mode on the whole system, as a developer uses it: `hkubectl sync create` applies the
algorithm in dev mode (a real build), a job runs the built code, an edit synced with
`hkubectl sync watch` runs at the next job, `sync stop` goes back to the built code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import ROOT, Cluster

pytestmark = pytest.mark.e2e
NAME = "dev-e2e"


def hkubectl(hkube: Cluster, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "hkubectl", "--endpoint", hkube.base_url, *args],
        cwd=home, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def run_job(hkube: Cluster, pipeline: Path, home: Path) -> dict[str, Any]:
    out = hkubectl(hkube, "--json", "exec", "raw", "--f", str(pipeline), home=home)
    assert out.returncode == 0, out.stdout + out.stderr
    body: dict[str, Any] = json.loads(out.stdout)
    assert body["jobStatus"] == "completed", body
    return body


def result(body: dict[str, Any]) -> Any:
    [entry] = body["jobResult"]
    return entry["result"]


def test_a_synced_edit_runs_at_the_next_job(hkube: Cluster, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.py").write_text("def start(args, hkubeapi):\n    return 'built'\n")
    created = hkubectl(hkube, "sync", "create", "-a", NAME, "-f", str(src), "--env", "python", home=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    pipeline = tmp_path / "dev.json"
    pipeline.write_text(json.dumps({"name": "dev", "nodes": [{"nodeName": "a", "algorithmName": NAME}]}))

    first = run_job(hkube, pipeline, tmp_path)
    assert result(first) == "built"
    job = hkube.get(f"exec/pipelines/{first['jobId']}").json()
    assert job["types"] == ["raw", "dev-mode"]

    (src / "main.py").write_text("def start(args, hkubeapi):\n    return 'edited'\n")
    synced = hkubectl(hkube, "sync", "watch", "-a", NAME, "-f", str(src), "--once", home=tmp_path)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert result(run_job(hkube, pipeline, tmp_path)) == "edited"

    stopped = hkubectl(hkube, "sync", "stop", "-a", NAME, home=tmp_path)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert result(run_job(hkube, pipeline, tmp_path)) == "built"
