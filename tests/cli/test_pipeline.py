from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

from tests.cli.conftest import PREFIX, FakeHkube

Run = Callable[..., Result]

YAML = "name: simple\nnodes:\n  - nodeName: one\n    algorithmName: green-alg\n    input: [1]\n"
PARSED = {"name": "simple", "nodes": [{"nodeName": "one", "algorithmName": "green-alg", "input": [1]}]}


def descriptor(tmp_path: Path) -> str:
    path = tmp_path / "simple.yaml"
    path.write_text(YAML)
    return str(path)


def test_store_posts_the_yaml_as_json(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    fake_hkube.on("POST", "store/pipelines", 201, {**PARSED, "version": "abc"})

    result = hkubectl("--json", "pipeline", "store", "--f", descriptor(tmp_path))

    assert result.exit_code == 0, result.output
    [call] = fake_hkube.requests
    assert (call.method, call.path) == ("POST", PREFIX + "store/pipelines")
    assert call.json() == PARSED
    assert json.loads(result.stdout)["version"] == "abc"


def test_store_of_an_existing_pipeline_suggests_update(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    fake_hkube.on(
        "POST", "store/pipelines", 409, {"error": {"code": 409, "message": "pipeline simple already exists"}}
    )
    path = descriptor(tmp_path)

    result = hkubectl("pipeline", "store", "--f", path)

    assert result.exit_code == 1
    assert "error: pipeline simple already exists (409)" in result.stderr
    assert f"hkubectl pipeline update --f {path}" in result.stderr


def test_update_puts_the_descriptor(hkubectl: Run, fake_hkube: FakeHkube, tmp_path: Path):
    fake_hkube.on("PUT", "store/pipelines", 200, PARSED)

    result = hkubectl("pipeline", "update", "-f", descriptor(tmp_path))

    assert result.exit_code == 0, result.output
    assert fake_hkube.calls("PUT", "store/pipelines")[0].json() == PARSED
    assert "name: simple" in result.stdout


def test_get_list_and_delete(hkubectl: Run, fake_hkube: FakeHkube):
    fake_hkube.on("GET", "store/pipelines", 200, [PARSED, {"name": "batch"}])
    fake_hkube.on("GET", "store/pipelines/simple", 200, PARSED)
    fake_hkube.on(
        "DELETE",
        "store/pipelines/simple",
        200,
        {"message": "pipeline simple successfully deleted from store"},
    )

    assert json.loads(hkubectl("-j", "pipeline", "get", "simple").stdout) == PARSED
    assert len(json.loads(hkubectl("-j", "pipeline", "get").stdout)) == 2
    assert hkubectl("pipeline", "list").stdout.split() == ["simple", "batch"]
    deleted = hkubectl("pipeline", "delete", "simple")
    assert deleted.exit_code == 0
    assert deleted.stdout.strip() == "message: pipeline simple successfully deleted from store"
