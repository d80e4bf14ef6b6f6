"""The code of a git algorithm's build: `git clone --depth 1 --branch <branchName>` of its
`gitRepository` into the build's code folder, through the build-step runner (its deadline,
its stop watcher, its log). Used by local builds (`execute.py`) and by the cluster build's
init container (`context.py`)."""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from builds import process
from builds.process import BuildError

DEFAULT_BRANCH = "master"  # HKube's gitRepository.branchName default


def clone(repo: dict[str, Any], code_dir: Path, log: Callable[[str], None]) -> None:
    url, branch = str(repo.get("url") or ""), str(repo.get("branchName") or DEFAULT_BRANCH)
    if not url:
        raise BuildError("the algorithm has no gitRepository.url")
    code_dir.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **_token_config(repo)}
    deadline = time.monotonic() + float(settings.HKUBE_GIT_CLONE_TIMEOUT)
    cmd = ["git", "clone", "--depth", "1", "--branch", branch, "--", url, str(code_dir)]
    what = f"git clone {url} ({branch})"
    process.run(cmd, what=what, cwd=code_dir.parent, env=env, log=log, deadline=deadline)
    shutil.rmtree(code_dir / ".git", ignore_errors=True)
    wanted = str((repo.get("commit") or {}).get("id") or "")
    log(f"cloned {url} at branch {branch}" + (f", pushed commit {wanted}" if wanted else ""))


def _token_config(repo: dict[str, Any]) -> dict[str, str]:
    """A private repository's `gitRepository.token` as an HTTP Basic header (GitHub's
    `x-access-token`, GitLab's `oauth2` user), passed through git's environment config: never
    in the command line, the URL or the build log."""
    token = str(repo.get("token") or "")
    if not token:
        return {}
    user = "oauth2" if repo.get("gitKind") == "gitlab" else "x-access-token"
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }
