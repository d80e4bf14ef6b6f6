"""Uploaded code never sees the platform's secrets: a real algorithm dumps its environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from algorithms.models import AlgorithmVersion
from algorithms.runtime.runner import _spawn
from builds.languages.base import step_env
from builds.languages.launch_env import build_env, runtime_env

SECRETS = {
    "DATABASE_URL": "postgres://hkube:db-password@db/hkube",
    "REDIS_URL": "redis://:redis-password@redis:6379/0",
    "DJANGO_SECRET_KEY": "the-secret-key",
    "HKUBE_ADMIN_PASSWORD": "admin-password",
    "HKUBE_FLOWER_BASIC_AUTH": "flower:flower-password",
    "HKUBE_TOKEN": "hkube_cli-token",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "HKUBE_OIDC_ISSUER": "https://kc/realms/hkube",
    "GITHUB_TOKEN": "ghp_example",
}
DUMP_ENV = "import os\n\ndef start(args, hkubeapi):\n    return dict(os.environ)\n"


@pytest.fixture
def secrets_in_worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def dump_env_version(tmp_path: Path, db: None) -> AlgorithmVersion:
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text(DUMP_ENV)
    env_bin = tmp_path / "env" / "bin"
    env_bin.mkdir(parents=True)
    (env_bin / "python").symlink_to(sys.executable)  # a built env: our wrapper needs only the stdlib
    return AlgorithmVersion.objects.create(
        algorithm_name="dump-env",
        version="v1",
        semver="1.0.0",
        descriptor={"name": "dump-env", "env": "python", "algorithmEnv": {"MY_SETTING": "kept"}},
        code_path=str(code),
        env_path=str(tmp_path / "env"),
    )


def test_an_algorithm_process_gets_none_of_the_platforms_secrets(
    secrets_in_worker_env: None, dump_env_version: AlgorithmVersion, settings: Any
) -> None:
    settings.HKUBE_ALGORITHM_ENV_ALLOW = ["GITHUB_TOKEN"]  # the operator may pass a name on on purpose
    session, _, _ = _spawn("dump-env", "v1", "dump-env-w1")
    try:
        outcome = session.run_task({"input": []})
    finally:
        session.close()

    assert outcome.status == "done", outcome.error
    seen: dict[str, str] = outcome.result
    leaked = {k for k, v in seen.items() if k in SECRETS or any(s in v for s in SECRETS.values())}
    assert leaked == {"GITHUB_TOKEN"}
    assert seen["MY_SETTING"] == "kept"  # the descriptor's algorithmEnv still arrives
    assert seen["ALGORITHM_TYPE"] == "dump-env" and seen["PATH"] == os.environ["PATH"]


def test_build_steps_keep_package_settings_but_no_secrets(
    secrets_in_worker_env: None, monkeypatch: Any
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.setenv("npm_config_registry", "https://npm.example/")

    for env in (build_env(), step_env(None, None)):
        assert not set(env) & set(SECRETS)
        assert env["PIP_INDEX_URL"] == "https://mirror.example/simple"
        assert env["npm_config_registry"] == "https://npm.example/"


def test_the_runtime_allow_list_keeps_what_programs_need() -> None:
    source = {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "CUDA_VISIBLE_DEVICES": "0", "PIP_INDEX_URL": "x"}

    env = runtime_env({**source, **SECRETS, "HKUBE_ALGORITHM_ENV_ALLOW": "MY_VAR", "MY_VAR": "1"})

    assert env == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "CUDA_VISIBLE_DEVICES": "0", "MY_VAR": "1"}
