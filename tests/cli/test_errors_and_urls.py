from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hkubectl.cli import app
from hkubectl.client import build_url
from tests.cli.conftest import PREFIX, FakeHkube

Run = Callable[..., Result]
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("endpoint", "prefix", "path", "expected"),
    [
        (
            "http://h:8000",
            "/hkube/api-server/",
            "exec/raw/",
            "http://h:8000/hkube/api-server/api/v1/exec/raw/",
        ),
        (
            "https://h/some/path/",
            "/hkube/api-server/",
            "store/pipelines",
            "https://h/hkube/api-server/api/v1/store/pipelines",
        ),
        ("http://h:8000", "/", "exec/status/j1", "http://h:8000/api/v1/exec/status/j1"),
        ("h:8000", "custom", "builds/status/b", "http://h:8000/custom/api/v1/builds/status/b"),
    ],
)
def test_urls_are_built_like_hkube(endpoint: str, prefix: str, path: str, expected: str):
    assert build_url(endpoint, prefix, path) == expected


def test_server_error_envelope_is_printed_with_its_code(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on(
        "GET", "store/algorithms/nope", 404, {"error": {"code": 404, "message": "algorithm nope Not Found"}}
    )

    result = hkubectl("algorithm", "get", "nope")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: algorithm nope Not Found (404)"
    assert result.stdout == ""


def test_string_error_bodies_are_printed_too(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("GET", "store/algorithms", 401, {"error": "Unauthorized"})

    result = hkubectl("algorithm", "list")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: Unauthorized (401)"


def test_connection_refused_gives_the_start_hint(home: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(app, ["--endpoint", f"http://127.0.0.1:{port}", "pipeline", "list"])

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: cannot reach HKube at http://127.0.0.1:{port}: is it running? "
        "start it with: python manage.py up"
    )


def test_a_missing_file_is_exit_code_2_and_names_it(hkubectl: Run, fake_hkube: FakeHkube):
    result = hkubectl("exec", "raw", "--f", "missing.yaml")

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: missing.yaml: file not found"
    assert fake_hkube.requests == []


def test_invalid_yaml_is_exit_code_2(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: simple\nnodes: [\n")

    result = hkubectl("pipeline", "store", "--f", str(bad))

    assert result.exit_code == 2
    assert f"{bad}: invalid YAML/JSON at line" in result.stderr
    assert "Traceback" not in result.output


def test_a_list_at_the_top_level_is_rejected(hkubectl: Run, tmp_path: Path):
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")

    result = hkubectl("exec", "raw", "--f", str(listing))

    assert result.exit_code == 2
    assert "must hold an object" in result.stderr


def test_path_prefix_and_global_options_after_the_subcommand(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.routes[("GET", "/api/v1/store/algorithms")] = (200, [{"name": "a1"}])

    result = hkubectl("algorithm", "list", "--json", "--pathPrefix", "/")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == ["a1"]
    assert fake_hkube.requests[0].path == "/api/v1/store/algorithms"


def test_verbose_logs_requests_to_stderr(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("GET", "store/pipelines", 200, [])

    result = hkubectl("--verbose", "pipeline", "list")

    assert f"> GET {fake_hkube.url}{PREFIX}store/pipelines" in result.stderr


def test_python_dash_m_runs_the_cli(fake_hkube: FakeHkube, home: Path):
    fake_hkube.on("GET", "store/algorithms", 200, [{"name": "green-alg"}])
    env = {**os.environ, "HKUBE_ENDPOINT": fake_hkube.url, "PYTHONPATH": str(REPO_ROOT)}

    completed = subprocess.run(
        [sys.executable, "-m", "hkubectl", "--json", "algorithm", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == ["green-alg"]
