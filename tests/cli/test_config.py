from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hkubectl.cli import app
from hkubectl.config import resolve_settings
from tests.cli.conftest import PREFIX, FakeHkube

runner = CliRunner()


def test_config_set_writes_the_home_hkuberc(home: Path):
    first = runner.invoke(app, ["config", "set", "endpoint", "https://my-cluster"])
    second = runner.invoke(app, ["config", "set", "rejectUnauthorized", "false"])

    assert first.exit_code == 0 and second.exit_code == 0, second.output
    stored = json.loads((home / ".hkube" / ".hkuberc").read_text())
    assert stored == {"endpoint": "https://my-cluster", "rejectUnauthorized": False}


def test_config_get_prints_the_file(home: Path):
    runner.invoke(app, ["config", "set", "endpoint", "https://my-cluster"])
    runner.invoke(app, ["config", "set", "password", "s3cret"])

    as_json = runner.invoke(app, ["--json", "config", "get"])
    one_key = runner.invoke(app, ["config", "get", "endpoint"])

    assert json.loads(as_json.stdout) == {"endpoint": "https://my-cluster", "password": "********"}
    assert one_key.stdout.strip() == "https://my-cluster"


def test_config_set_rejects_unknown_keys(home: Path):
    result = runner.invoke(app, ["config", "set", "colour", "blue"])

    assert result.exit_code == 2
    assert "unknown config key 'colour'" in result.stderr
    assert not (home / ".hkube" / ".hkuberc").exists()


def test_the_config_endpoint_and_prefix_are_used(home: Path, fake_hkube: FakeHkube):
    fake_hkube.routes[("GET", "/api/v1/store/pipelines")] = (200, [{"name": "p"}])
    runner.invoke(app, ["config", "set", "endpoint", fake_hkube.url])
    runner.invoke(app, ["config", "set", "pathPrefix", "/"])

    result = runner.invoke(app, ["pipeline", "list"])

    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["p"]


def test_env_beats_the_config_file_and_the_flag_beats_both(
    home: Path, fake_hkube: FakeHkube, monkeypatch: pytest.MonkeyPatch
):
    fake_hkube.on("GET", "store/pipelines", 200, [])
    runner.invoke(app, ["config", "set", "endpoint", "http://127.0.0.1:1"])
    monkeypatch.setenv("HKUBE_ENDPOINT", fake_hkube.url)

    from_env = runner.invoke(app, ["pipeline", "list"])
    from_flag = runner.invoke(app, ["--endpoint", "http://127.0.0.1:1", "pipeline", "list"])

    assert from_env.exit_code == 0, from_env.output
    assert fake_hkube.requests[0].path == PREFIX + "store/pipelines"
    assert from_flag.exit_code == 1
    assert "cannot reach HKube at http://127.0.0.1:1" in from_flag.stderr


def test_a_project_hkuberc_is_found_upwards_from_cwd(
    home: Path, fake_hkube: FakeHkube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    fake_hkube.on("GET", "store/algorithms", 200, [{"name": "x1"}])
    project = tmp_path / "project"
    (project / "deep" / "er").mkdir(parents=True)
    (project / ".hkuberc").write_text(json.dumps({"endpoint": fake_hkube.url}))
    monkeypatch.chdir(project / "deep" / "er")

    result = runner.invoke(app, ["algorithm", "list"])

    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["x1"]


def test_a_broken_config_file_is_reported(home: Path):
    (home / ".hkube").mkdir()
    (home / ".hkube" / ".hkuberc").write_text("{not json")

    result = runner.invoke(app, ["pipeline", "list"])

    assert result.exit_code == 2
    assert "is not valid JSON" in result.stderr


def test_reject_unauthorized_must_be_a_boolean(home: Path):
    result = runner.invoke(app, ["--rejectUnauthorized", "maybe", "pipeline", "list"])

    assert result.exit_code == 2
    assert "rejectUnauthorized must be true or false, got 'maybe'" in result.stderr


def test_reject_unauthorized_false_turns_certificate_checks_off(home: Path):
    settings = resolve_settings(
        endpoint=None,
        path_prefix=None,
        reject_unauthorized=None,
        username=None,
        password=None,
        json_output=False,
        verbose=False,
        file_values={"rejectUnauthorized": False, "pathPrefix": "/"},
    )

    assert (settings.reject_unauthorized, settings.path_prefix) == (False, "/")
