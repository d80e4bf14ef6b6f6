"""A git algorithm (`gitRepository` in the descriptor) applied through `store/algorithms/apply`
starts a build as a code upload does: its first apply, a new commit, a force; the build clones
the repository (a local bare one here, reached through git's `insteadOf` for the https URL the
schema requires) and its completion makes the version that becomes current."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from algorithms.models import Algorithm, AlgorithmVersion
from builds import execute
from builds.models import Build, BuildStatus

URL = "https://git.example.test/acme/algos"


def git(*args: str, cwd: Path) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **env}, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def served_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Path:
    """A bare repository with branch `main`, cloned whenever git is asked for URL."""
    work, bare = tmp_path / "work", tmp_path / "algos.git"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "main.py").write_text("def start(args, hkubeapi):\n    return 42\n")
    git("add", "main.py", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{bare.as_uri()}.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", URL)
    settings.HKUBE_ALGORITHMS_DIR = tmp_path / "algorithms"
    # The language step (a virtualenv, pip) is not what this tests.
    monkeypatch.setattr(execute, "_build_environment", lambda *args: None)
    return work


def apply(client: Client, payload: dict[str, Any], options: dict[str, Any] | None = None) -> Any:
    data = {"payload": json.dumps(payload)}
    if options:
        data["options"] = json.dumps(options)
    response = client.post("/api/v1/store/algorithms/apply", data)
    assert response.status_code == 200, response.content
    return response.json()


def descriptor(commit: str | None = None) -> dict[str, Any]:
    repo: dict[str, Any] = {"url": URL, "branchName": "main"}
    if commit:
        repo["commit"] = {"id": commit}
    return {"name": "git-alg", "env": "python", "entryPoint": "main.py", "gitRepository": repo}


@pytest.mark.django_db
def test_applying_a_git_algorithm_builds_its_branch_into_the_current_version(
    client: Client, served_repo: Path
) -> None:
    body = apply(client, descriptor())
    assert body["messagesCode"][0] == 1021, body
    build = Build.objects.get(build_id=body["buildId"])
    assert (build.status, build.file_ext, build.file_path) == (BuildStatus.PENDING, "git", URL)
    assert body["algorithm"]["type"] == "Git" and body["algorithm"]["options"]["pending"] is True

    execute._run_build(build.build_id)
    build.refresh_from_db()
    assert build.status == BuildStatus.COMPLETED, build.log
    algorithm = Algorithm.objects.get(name="git-alg")
    version = AlgorithmVersion.objects.get(version=algorithm.version)
    assert version.build_id == build.build_id
    assert (Path(version.code_path) / "main.py").read_text().endswith("return 42\n")
    assert algorithm.descriptor["options"]["pending"] is False


@pytest.mark.django_db
def test_a_new_commit_or_a_force_rebuilds_and_the_same_apply_does_not(
    client: Client, served_repo: Path
) -> None:
    first = apply(client, descriptor("c1"))
    execute._run_build(first["buildId"])

    again = apply(client, descriptor("c1"))
    assert "buildId" not in again and 1022 not in again["messagesCode"], again

    pushed = apply(client, descriptor("c2"))
    assert pushed["messagesCode"][0] == 1022
    assert "due to change in commit." in pushed["messages"][0]
    assert Build.objects.get(build_id=pushed["buildId"]).algorithm["gitRepository"]["commit"] == {"id": "c2"}

    forced = apply(client, descriptor("c2"), {"forceBuild": True})
    assert forced["messagesCode"][0] == 1020 and forced["buildId"] != pushed["buildId"]
    assert Build.objects.filter(algorithm_name="git-alg").count() == 3


@pytest.mark.django_db
def test_a_git_algorithm_without_env_is_refused_in_the_envelope(client: Client) -> None:
    response = client.post(
        "/api/v1/store/algorithms/apply",
        {"payload": json.dumps({"name": "git-alg", "gitRepository": {"url": URL}})},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "data should have required property 'env'"
    assert not Build.objects.exists()
