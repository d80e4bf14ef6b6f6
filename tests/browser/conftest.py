"""A real browser (Playwright driving Debian's Chromium) against the whole system under
gunicorn (the e2e harness), logged in to the admin as a superuser made for the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT, Cluster, running_cluster

CHROMIUM = os.environ.get("HKUBE_TEST_CHROMIUM", "/usr/bin/chromium")
# No network, no background services: the pages must work with nothing but the server.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER, PASSWORD = "admin", "control-room-pw"
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("hkube-browser")) as cluster:
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "createsuperuser",
                "--noinput",
                "--username",
                USER,
                "--email",
                "admin@example.com",
            ],
            cwd=ROOT,
            env={**cluster.env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
            check=True,
            timeout=120,
        )
        yield cluster


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM} (.ci/run installs it: apt-get install chromium)"
        )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots of every page the walk-through opens (ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
