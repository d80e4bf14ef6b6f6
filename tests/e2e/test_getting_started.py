"""The getting-started walkthrough, as a new user runs it: hkubectl, then REST alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "numbers"


def hkubectl(hkube: Cluster, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(EXAMPLE.parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "hkubectl", "--endpoint", hkube.base_url, *args],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_hkubectl_walkthrough_runs_the_numbers_pipeline(hkube: Cluster, tmp_path: Path) -> None:
    subprocess.run(["bash", "package.sh"], cwd=EXAMPLE, check=True)
    for name in ("range", "multiply", "reduce"):
        out = hkubectl(hkube, "algorithm", "apply", "--f", f"{name}.yml", home=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
    stored = hkubectl(hkube, "pipeline", "store", "--f", "numbers.yml", home=tmp_path)
    assert stored.returncode == 0 or "already exists" in stored.stderr, stored.stdout + stored.stderr

    small = hkubectl(hkube, "--json", "exec", "stored", "numbers", home=tmp_path)
    assert small.returncode == 0, small.stdout + small.stderr
    body = json.loads(small.stdout)
    assert body["jobStatus"] == "completed"
    assert body["jobResult"][0]["result"] == 30

    big = hkubectl(hkube, "--json", "exec", "stored", "numbers", "--f", "big-input.yml", home=tmp_path)
    assert big.returncode == 0, big.stdout + big.stderr
    assert json.loads(big.stdout)["jobResult"][0]["result"] == 25050000

    raw = hkubectl(hkube, "--json", "exec", "raw", "--f", "numbers.yml", home=tmp_path)
    assert raw.returncode == 0, raw.stdout + raw.stderr
    assert json.loads(raw.stdout)["jobResult"][0]["result"] == 30


def test_numbers_stored_through_rest_gives_30(numbers: Cluster) -> None:
    status = numbers.run("exec/stored", {"name": "numbers"})
    assert status["status"] == "completed", status
    assert status["data"]["progress"] == 100
    result = numbers.results(status["jobId"])
    assert result["data"] == [{"nodeName": "Reduce", "algorithmName": "reduce", "result": 30}]
    assert result["storageModule"] == "@hkube/fs-adapter"


def test_numbers_with_flow_input_override_gives_25050000(numbers: Cluster) -> None:
    status = numbers.run("exec/stored", {"name": "numbers", "flowInput": {"data": 500, "mul": 200}})
    assert status["status"] == "completed", status
    assert numbers.results(status["jobId"])["data"][0]["result"] == 25050000
    assert status["data"]["states"] == {"succeed": 502}


def test_numbers_raw_under_hkube_prefix_with_trailing_slash_gives_30(numbers: Cluster) -> None:
    import yaml

    pipeline = yaml.safe_load((EXAMPLE / "numbers.yml").read_text())
    response = requests.post(
        numbers.url("exec/raw/", prefix="/hkube/api-server/api/v1/"), json=pipeline, timeout=30
    )
    assert response.status_code == 200, response.text
    status = numbers.wait(response.json()["jobId"])
    assert status["status"] == "completed"
    assert numbers.results(status["jobId"])["data"][0]["result"] == 30
