"""The parity commands end to end against the real api-server (Django's live server):
versions, a pipeline's README, and an export/import round trip."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner, Result

from hkubectl.cli import app

pytestmark = pytest.mark.django_db(transaction=True)

Run = Callable[..., Result]


@pytest.fixture
def cli(live_server: Any, home: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("HKUBE_ENDPOINT", live_server.url)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return run


def api(live_server: Any, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{live_server.url}/api/v1/{path}", json=body, timeout=30)
    assert response.status_code < 300, response.text
    return response.json()


def test_versions_readme_and_round_trip(cli: Run, live_server: Any, tmp_path: Path) -> None:
    api(live_server, "POST", "store/algorithms", {"name": "green-alg", "algorithmImage": "me/green:1"})
    first = api(live_server, "GET", "store/algorithms/green-alg")["version"]
    # A new image makes a new version that is not current until applied.
    api(live_server, "PUT", "store/algorithms", {"name": "green-alg", "algorithmImage": "me/green:2"})

    listed = cli("--json", "algorithm", "version", "green-alg")
    assert listed.exit_code == 0, listed.output
    versions = json.loads(listed.stdout)
    images = {v["algorithm"]["algorithmImage"]: v for v in versions}
    assert set(images) == {"me/green:1", "me/green:2"}
    assert images["me/green:1"]["version"] == first and images["me/green:1"]["current"]

    applied = cli("algorithm", "version", "green-alg", "--setCurrent", "me/green:2", "--force")
    assert applied.exit_code == 0, applied.output
    current = api(live_server, "GET", "store/algorithms/green-alg")
    assert (current["version"], current["algorithmImage"]) == (images["me/green:2"]["version"], "me/green:2")

    (tmp_path / "p.yaml").write_text(
        "name: simple\nnodes:\n  - nodeName: one\n    algorithmName: green-alg\n    input: [1]\n"
    )
    (tmp_path / "README.md").write_text("# simple\n")
    stored = cli(
        "pipeline", "store", "--f", str(tmp_path / "p.yaml"), "--readmeFile", str(tmp_path / "README.md")
    )
    assert stored.exit_code == 0, stored.output
    assert api(live_server, "GET", "readme/pipelines/simple") == {"name": "simple", "readme": "# simple\n"}

    exported = cli("export", "all", str(tmp_path / "out"))
    assert exported.exit_code == 0, exported.output
    algorithm = json.loads((tmp_path / "out/algorithms/green-alg.json").read_text())
    assert algorithm["algorithmImage"] == "me/green:2"
    assert not {"version", "created", "modified", "auditTrail"} & set(algorithm)

    api(live_server, "DELETE", "store/pipelines/simple")
    api(live_server, "DELETE", "store/algorithms/green-alg")
    imported = cli("--json", "import", "all", str(tmp_path / "out"))
    assert imported.exit_code == 0, imported.output
    assert [(r["name"], r["result"]) for r in json.loads(imported.stdout)] == [
        ("green-alg", "stored"),
        ("simple", "stored"),
    ]
    assert api(live_server, "GET", "store/algorithms/green-alg")["algorithmImage"] == "me/green:2"
    assert api(live_server, "GET", "store/pipelines/simple")["nodes"][0]["algorithmName"] == "green-alg"

    again = cli("--json", "import", "pipelines", str(tmp_path / "out"))
    assert again.exit_code == 1
    assert "already exists" in json.loads(again.stdout)[0]["message"]
    assert cli("import", "pipelines", str(tmp_path / "out"), "--overwrite").exit_code == 0
