"""`manage.py up` behind token auth, as a user runs it: served beyond the loopback, Flower off
without its password, the API answering 401/403/200 by token."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.test_up import ROOT, Up, processes_of

pytestmark = pytest.mark.e2e


class AuthUp(Up):
    def env(self) -> dict[str, str]:
        return {**super().env(), "HKUBE_AUTH": self.auth}

    auth = "token"

    def create_token(self, name: str, role: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", "create_token", name, "--role", role],
            cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return done.stdout.strip()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[AuthUp]:
    runner = AuthUp(tmp_path / "home")
    runner.home.mkdir()
    yield runner
    if runner.process and runner.process.poll() is None:
        runner.stop()
    for pid in processes_of(runner.home):  # children in their own sessions, after a failure
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_open_up_beyond_the_loopback_is_refused(served: AuthUp) -> None:
    served.auth = "none"

    done = served.run_another("--host", "0.0.0.0", "--no-flower")

    assert done.returncode != 0
    assert "refusing to serve on 0.0.0.0 without authentication" in done.stderr
    assert not (served.home / "up.pid").exists()


def test_up_with_tokens_serves_on_every_address_and_checks_roles(served: AuthUp) -> None:
    served.start("--host", "0.0.0.0")
    viewer = served.create_token("viewer-1", "viewer")
    pipelines = f"{served.api}store/pipelines"

    as_viewer = {"Authorization": f"Bearer {viewer}"}

    anonymous = requests.get(pipelines, timeout=30)
    read = requests.get(pipelines, headers=as_viewer, timeout=30)
    run = requests.post(f"{served.api}exec/raw", json={}, headers=as_viewer, timeout=30)

    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == 401
    assert read.status_code == 200
    assert run.status_code == 403
    assert "Flower is off" in served.events()
    assert "the admin user's password is now" in served.events()
