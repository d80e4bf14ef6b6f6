"""What every language of the registry shares: the interface, the env folder's marker, and
the environment a build step runs in. No Django imports: plain Python, tested directly."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from builds.languages.launch_env import build_env
from builds.process import Log

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
MARKER = "hkube-env.json"

# Variables that would send pip's installs somewhere other than the venv, or make the
# build see the server's own code.
_SCRUBBED_ENV = ("PYTHONHOME", "PYTHONPATH", "PIP_TARGET", "PIP_PREFIX", "PIP_USER", "PIP_ROOT")


@dataclass(frozen=True)
class BuildOptions:
    """The descriptor's build settings, and where this server caches downloads."""

    cache_dir: Path  # <HKUBE_HOME>/cache: pip's cache, the compiled java wrapper
    install_cmd: str | None = None  # dependencyInstallCmd
    wrapper: object = None  # the descriptor's `wrapper` (python: ours or HKube's)
    entry_point: str | None = None
    timeout: float = 900


@dataclass(frozen=True)
class StorageSite:
    """This server's storage, for a wrapper that reads and writes storage itself (HKube's)."""

    cluster: str
    storage: str
    storage_dir: Path
    storage_encoding: str
    s3: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Version:
    """A built version, as its launch needs it."""

    code_dir: Path
    env_dir: Path
    descriptor: Mapping[str, Any]
    metrics_dir: Path  # ALGO_METRICS_DIR of this worker (HKube's wrapper)
    site: StorageSite

    @property
    def entry_point(self) -> str | None:
        value = self.descriptor.get("entryPoint")
        return str(value) if value else None


@dataclass(frozen=True)
class Launch:
    """How to start the algorithm process: pass to ``AlgorithmSession(command, env, cwd)``."""

    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


class Launcher(Protocol):
    """How a built version starts."""

    name: str

    def launch(self, version: Version) -> Launch:
        """The command, environment and folder that start a built version."""
        ...


class Language(Launcher, Protocol):
    """One environment of the registry (``builds.languages``): its build and its launch."""

    default_entry_point: str

    def build(self, code_dir: Path, env_dir: Path, *, log: Log, options: BuildOptions) -> None:
        """Make ``env_dir`` runnable for the code in ``code_dir`` (BuildError on failure)."""
        ...

    def wrapper_env(self, code_dir: Path, entry_point: str | None) -> dict[str, str]:
        """The variables that point our wrapper at the user's code (HKube's names)."""
        ...


def wrapper_variables(code_dir: Path, entry_point: str | None, default: str) -> dict[str, str]:
    return {"ALGORITHM_PATH": str(code_dir.resolve()), "ALGORITHM_ENTRY_POINT": entry_point or default}


def is_built(env_dir: Path) -> bool:
    """True when a build of ``env_dir`` finished (the marker is written last)."""
    return (env_dir / MARKER).is_file()


def read_marker(env_dir: Path) -> dict[str, Any] | None:
    marker = env_dir / MARKER
    if not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def write_marker(env_dir: Path, data: Mapping[str, str]) -> None:
    env_dir.mkdir(parents=True, exist_ok=True)
    (env_dir / MARKER).write_text(json.dumps(dict(data)) + "\n")


def reset_dir(env_dir: Path) -> None:
    if env_dir.exists() or env_dir.is_symlink():
        shutil.rmtree(env_dir)
    env_dir.parent.mkdir(parents=True, exist_ok=True)


def step_env(venv: Path | None, pip_cache_dir: Path | None) -> dict[str, str]:
    """The environment of a build step: the allow-listed part of the server's (no secrets,
    launch_env.py), without what would redirect pip."""
    env = {k: v for k, v in build_env().items() if k not in _SCRUBBED_ENV}
    env.pop("VIRTUAL_ENV", None)
    env.update(PYTHONUNBUFFERED="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", os.defpath)])
    if pip_cache_dir is not None:
        env["PIP_CACHE_DIR"] = str(pip_cache_dir)
    return env
