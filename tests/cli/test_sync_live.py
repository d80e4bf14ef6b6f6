"""Dev mode end to end: `hkubectl sync` against the real api-server (Django's live server),
and an algorithm worker's runner starting the algorithm process as a worker does. `sync create`
applies the algorithm in dev mode with the folder's code (its build runs in the server here);
`sync watch` uploads the folder, and the worker's next task start runs the edit; `sync stop`
and `sync start` switch between the built and the synced code."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import transaction
from typer.testing import CliRunner, Result

from algorithms.runtime.runner import Runner
from builds import execute
from builds import services as build_services
from hkube_site.object_store import get_storage
from hkubectl import sync as sync_commands
from hkubectl.cli import app

pytestmark = pytest.mark.django_db(transaction=True)

Run = Callable[..., Result]
NAME = "dev-alg"


def code(value: str) -> str:
    return f"def start(args, hkubeapi):\n    return {value!r}\n"


@pytest.fixture
def cli(live_server: Any, home: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("HKUBE_ENDPOINT", live_server.url)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return run


@pytest.fixture
def builds_in_the_server(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path) -> None:
    """A build runs right after its request commits (no builds worker here); its environment
    is this interpreter (our wrapper needs only the standard library)."""
    settings.HKUBE_ALGORITHMS_DIR = tmp_path / "algorithms"
    settings.HKUBE_DEV_SOURCES_DIR = tmp_path / "dev-sources"

    def environment(env: str, descriptor: Any, code_dir: Path, env_dir: Path, log: Any) -> None:
        (env_dir / "bin").mkdir(parents=True)
        (env_dir / "bin" / "python").symlink_to(sys.executable)

    monkeypatch.setattr(execute, "_build_environment", environment)
    monkeypatch.setattr(
        build_services,
        "_enqueue_on_commit",
        lambda build_id: transaction.on_commit(lambda: execute._run_build(build_id)),
    )


def current_version(live_server: Any) -> dict[str, Any]:
    response = requests.get(f"{live_server.url}/api/v1/store/algorithms/{NAME}", timeout=30)
    assert response.status_code == 200, response.text
    algorithm: dict[str, Any] = response.json()
    return algorithm


class Worker:
    """An algorithm worker's runner: the session its next task would run in."""

    def __init__(self) -> None:
        self.runner = Runner(get_storage(), "dev-alg-w1")

    def next_task(self, version: str) -> tuple[Any, object]:
        session = self.runner.session_for(NAME, version)
        outcome = session.run_task({"input": []}, timeout=30)
        assert outcome.status == "done", outcome.error
        return outcome.result, session


def test_sync_create_watch_stop_start(
    cli: Run, live_server: Any, builds_in_the_server: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "main.py").write_text(code("built"))
    created = cli("sync", "create", "-a", NAME, "-f", str(folder), "--env", "python", "-e", "main.py")
    assert created.exit_code == 0, created.output
    assert "completed" in created.output
    algorithm = current_version(live_server)
    assert algorithm["options"]["devMode"] is True and algorithm["type"] == "Code"

    worker = Worker()
    try:
        # Nothing synced yet: the built code runs.
        assert worker.next_task(algorithm["version"])[0] == "built"

        (folder / "main.py").write_text(code("edit-1"))
        synced = cli("--json", "sync", "watch", "-a", NAME, "-f", str(folder), "--once")
        assert synced.exit_code == 0, synced.output
        answer = json.loads(synced.stdout)
        assert (answer["name"], answer["files"], answer["devMode"]) == (NAME, 1, True)
        result, session = worker.next_task(algorithm["version"])
        assert result == "edit-1"
        assert worker.next_task(algorithm["version"]) == ("edit-1", session)  # unchanged: kept warm

        # Watching: an edit while it watches is uploaded; Ctrl-C ends it.
        looks: list[int] = []

        def sleep(seconds: float) -> None:
            looks.append(1)
            if len(looks) == 1:
                (folder / "main.py").write_text(code("edit-22"))
            elif len(looks) == 3:
                raise KeyboardInterrupt

        monkeypatch.setattr(sync_commands, "sleep", sleep)
        watched = cli("--json", "sync", "watch", "-a", NAME, "-f", str(folder))
        assert watched.exit_code == 130, watched.output
        assert watched.stdout.count('"revision"') == 2  # at the start, then after the edit
        assert worker.next_task(algorithm["version"])[0] == "edit-22"

        stopped = cli("sync", "stop", "-a", NAME)
        assert stopped.exit_code == 0, stopped.output
        built = current_version(live_server)
        assert built["options"]["devMode"] is False and built["version"] != algorithm["version"]
        assert worker.next_task(built["version"])[0] == "built"

        started = cli("sync", "start", "-a", NAME, "--devFolder", "/hkube/algorithm-runner/src")
        assert started.exit_code == 0, started.output
        again = current_version(live_server)
        assert again["options"] == {
            "devMode": True,
            "devFolder": "/hkube/algorithm-runner/src",
            "pending": False,
        }
        assert worker.next_task(again["version"])[0] == "edit-22"
    finally:
        worker.runner.close()


def test_sync_watch_of_an_unknown_algorithm_is_hkubes_404(cli: Run, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(code("x"))
    result = cli("sync", "watch", "-a", "no-such-alg", "-f", str(tmp_path), "--once")
    assert result.exit_code == 1
    assert "algorithm no-such-alg Not Found" in result.output
