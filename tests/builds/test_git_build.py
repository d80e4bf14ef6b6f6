"""A git algorithm's build: `git clone --depth 1 --branch` of the pushed branch into the
version's code folder, through the build-step runner; a clone that fails fails the build."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from algorithms.models import Algorithm, AlgorithmVersion
from builds import execute, git_source, services
from builds.context import prepare_build_context
from builds.models import Build, BuildStatus


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
def bare_repo(tmp_path: Path) -> tuple[str, str]:
    """A bare repository with one commit on branch `dev`: its file:// URL and the commit id."""
    work, bare = tmp_path / "work", tmp_path / "repo.git"
    work.mkdir()
    git("init", "-q", "-b", "dev", cwd=work)
    (work / "main.py").write_text("def start(args, hkubeapi):\n    return 42\n")
    git("add", "main.py", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    commit = git("rev-parse", "HEAD", cwd=work)
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    return bare.as_uri(), commit


def descriptor(url: str, branch: str, commit: str) -> dict[str, Any]:
    return {
        "name": "git-alg",
        "env": "python",
        "type": "Git",
        "entryPoint": "main.py",
        "gitRepository": {"url": url, "branchName": branch, "commit": {"id": commit}},
    }


@pytest.fixture
def no_environment(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path) -> list[Path]:
    """Builds into tmp_path; the language step (a venv, pip) is recorded instead of run."""
    settings.HKUBE_ALGORITHMS_DIR = tmp_path / "algorithms"
    seen: list[Path] = []
    monkeypatch.setattr(
        execute, "_build_environment", lambda env, desc, code, env_dir, log: seen.append(code)
    )
    return seen


@pytest.mark.django_db(transaction=True)
def test_a_git_build_clones_the_branch_into_the_new_version(
    bare_repo: tuple[str, str], no_environment: list[Path]
):
    url, commit = bare_repo
    build = services.create_git_build(descriptor(url, "dev", commit))
    assert build.as_api()["type"] == "Git" and build.as_api()["gitRepository"]["commit"]["id"] == commit
    execute.run_build(build.build_id)
    build.refresh_from_db()
    assert build.status == BuildStatus.COMPLETED, build.log
    assert "git clone" in build.log and commit in build.log
    [code_dir] = no_environment
    assert (code_dir / "main.py").read_text().endswith("return 42\n")
    assert not (code_dir / ".git").exists()
    version = AlgorithmVersion.objects.get(algorithm_name="git-alg", build_id=build.build_id)
    assert version.code_path == str(code_dir)
    assert Algorithm.objects.get(name="git-alg").descriptor["gitRepository"]["commit"]["id"] == commit


@pytest.mark.django_db(transaction=True)
def test_a_clone_of_a_missing_branch_fails_the_build(bare_repo: tuple[str, str], no_environment: list[Path]):
    url, commit = bare_repo
    build = services.create_git_build(descriptor(url, "no-such-branch", commit))
    execute.run_build(build.build_id)
    build = Build.objects.get(build_id=build.build_id)
    assert build.status == BuildStatus.FAILED
    assert "no-such-branch" in (build.error or "")
    assert no_environment == []
    assert not AlgorithmVersion.objects.filter(algorithm_name="git-alg").exists()


@pytest.mark.django_db
def test_a_cluster_build_context_of_a_git_algorithm_is_its_clone(bare_repo: tuple[str, str], tmp_path: Path):
    url, commit = bare_repo
    build = services.create_git_build(descriptor(url, "dev", commit))
    dockerfile = prepare_build_context(build.build_id, tmp_path / "workspace")
    assert (tmp_path / "workspace" / "code" / "main.py").exists()
    assert dockerfile.read_text().startswith("FROM ")


def test_a_token_goes_to_git_as_a_header_in_its_environment_only(
    monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(git_source.process, "run", lambda cmd, **kw: calls.append((cmd, kw["env"])))
    lines: list[str] = []
    repo = {"url": "https://gitlab.com/acme/private", "gitKind": "gitlab", "token": "glpat-SECRET"}
    git_source.clone(repo, tmp_path / "code", lines.append)
    [(cmd, env)] = calls
    assert cmd[:6] == ["git", "clone", "--depth", "1", "--branch", "master"]
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert (
        env["GIT_CONFIG_VALUE_0"]
        == "Authorization: Basic " + base64.b64encode(b"oauth2:glpat-SECRET").decode()
    )
    assert not any("SECRET" in part for part in cmd) and not any("SECRET" in line for line in lines)
    git_source.clone({"url": "https://github.com/acme/public"}, tmp_path / "code2", lines.append)
    # No token, no header. A GitHub token uses GitHub's user name.
    assert calls[1][1].get("GIT_CONFIG_COUNT") == os.environ.get("GIT_CONFIG_COUNT")
    git_source.clone({**repo, "gitKind": "github"}, tmp_path / "code3", lines.append)
    assert base64.b64encode(b"x-access-token:glpat-SECRET").decode() in calls[2][1]["GIT_CONFIG_VALUE_0"]
