"""hkubectl sends a bearer token from --token, HKUBE_TOKEN or the config file's `token`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.cli.conftest import FakeHkube

runner = CliRunner()


def _authorization(fake: FakeHkube) -> str | None:
    return fake.calls("GET", "store/pipelines")[-1].headers.get("Authorization")


def test_no_token_sends_no_authorization_header(hkubectl: Callable[..., Result], fake_hkube: FakeHkube):
    fake_hkube.on("GET", "store/pipelines", 200, [])

    assert hkubectl("pipeline", "list").exit_code == 0
    assert _authorization(fake_hkube) is None


def test_the_token_flag_is_sent_as_a_bearer_header(hkubectl: Callable[..., Result], fake_hkube: FakeHkube):
    fake_hkube.on("GET", "store/pipelines", 200, [])

    result = hkubectl("pipeline", "list", "--token", "hkube_abc")  # a global flag, after the command too

    assert result.exit_code == 0, result.output
    assert _authorization(fake_hkube) == "Bearer hkube_abc"


def test_config_set_token_is_used_and_masked(
    hkubectl: Callable[..., Result], fake_hkube: FakeHkube, home: Path
):
    fake_hkube.on("GET", "store/pipelines", 200, [])

    assert hkubectl("config", "set", "token", "hkube_from_file").exit_code == 0
    shown = hkubectl("--json", "config", "get")
    hkubectl("pipeline", "list")

    assert json.loads((home / ".hkube" / ".hkuberc").read_text())["token"] == "hkube_from_file"
    assert json.loads(shown.stdout) == {"token": "********"}
    assert _authorization(fake_hkube) == "Bearer hkube_from_file"


def test_flag_beats_env_beats_config_file(
    hkubectl: Callable[..., Result], fake_hkube: FakeHkube, monkeypatch: pytest.MonkeyPatch
):
    fake_hkube.on("GET", "store/pipelines", 200, [])
    hkubectl("config", "set", "token", "from-file")
    monkeypatch.setenv("HKUBE_TOKEN", "from-env")

    hkubectl("pipeline", "list")
    from_env = _authorization(fake_hkube)
    hkubectl("--token", "from-flag", "pipeline", "list")

    assert from_env == "Bearer from-env"
    assert _authorization(fake_hkube) == "Bearer from-flag"
