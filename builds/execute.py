"""One build, run by the `builds` queue's worker: unpack the stored archive into a new
version folder, build its environment with the language registry, and report the outcome.

Stopping is cooperative: `stop_build` marks the row `stopped`, and the running step (pip,
npm, javac) is killed by `builds.process`' watcher within half a second.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from builds import git_source, languages, packaging, signals
from builds.languages.base import BuildOptions
from builds.models import GIT_EXT, Build, BuildStatus
from builds.process import BuildError, BuildStopped, stop_when
from hkube_site.object_store import get_storage
from pipelines.engine import ids
from pipelines.models import now_ms

log = logging.getLogger(__name__)


def version_dir(name: str, version: str) -> Path:
    """A version's folder (`code/`, `env/`): `<algorithms dir>/<name>/<version>`."""
    return Path(settings.HKUBE_ALGORITHMS_DIR) / name / version


class _LogWriter:
    """Collects build output and flushes it to the row at most once a second (live logs)."""

    def __init__(self, build_id: str) -> None:
        self.build_id = build_id
        self.lines: list[str] = []
        self.last_flush = 0.0
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self.lock:
            self.lines.append(line.rstrip("\n"))
            if time.monotonic() - self.last_flush > 1.0:
                self.flush()

    def flush(self, progress: int | None = None) -> None:
        self.last_flush = time.monotonic()
        fields: dict[str, Any] = {"log": "\n".join(self.lines[-5000:]), "timestamp": now_ms()}
        if progress is not None:
            fields["progress"] = progress
        Build.objects.filter(build_id=self.build_id).update(**fields)

    @property
    def text(self) -> str:
        return "\n".join(self.lines[-5000:])


def run_build(build_id: str) -> None:
    # A stop (stop_build) kills the running step (pip, npm, javac) within half a second.
    with stop_when(_stop_check(build_id)):
        _run_build(build_id)


def _stop_check(build_id: str) -> Callable[[], bool]:
    def check() -> bool:
        # Called from the build step's watcher thread: its connection is its own, and is
        # closed each time so no thread leaves one open behind it.
        try:
            return _stopped(build_id)
        finally:
            connection.close()

    return check


def _run_build(build_id: str) -> None:
    changed = Build.objects.filter(build_id=build_id, status=BuildStatus.PENDING).update(
        status=BuildStatus.ACTIVE, progress=5, start_time=now_ms()
    )
    if not changed:
        return
    build = Build.objects.get(build_id=build_id)
    descriptor = dict(build.algorithm)
    # A new version id per run: a rerun of a completed build must not overwrite the folder
    # of the version it made.
    version = ids.version_id()
    target = version_dir(build.algorithm_name, version)
    code_dir, env_dir = target / "code", target / "env"
    writer = _LogWriter(build_id)
    try:
        writer(f"build {build_id}: algorithm {build.algorithm_name}, env {build.env}, version {version}")
        if build.file_ext == GIT_EXT:
            git_source.clone(descriptor.get("gitRepository") or {}, code_dir, writer)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                archive = Path(tmp) / f"code.{build.file_ext or 'gz'}"
                archive.write_bytes(get_storage().adapter.get_bytes(build.file_path))
                unpacked = packaging.unpack(
                    archive, code_dir, max_bytes=int(settings.HKUBE_MAX_UNPACKED_BYTES)
                )
            writer(f"unpacked {unpacked.files} files ({unpacked.total_bytes} bytes)")
        writer.flush(progress=30)
        if _stopped(build_id):
            raise _Stopped()
        _build_environment(build.env, descriptor, code_dir, env_dir, writer)
        if _stopped(build_id):
            raise _Stopped()
        writer("build completed")
    except (_Stopped, BuildStopped):
        shutil.rmtree(target, ignore_errors=True)
        writer("build stopped")
        Build.objects.filter(build_id=build_id).update(log=writer.text, end_time=now_ms())
        return
    except Exception as exc:  # noqa: BLE001 - any failure fails the build with its log
        shutil.rmtree(target, ignore_errors=True)
        writer(f"build failed: {exc}")
        log.warning("build %s failed: %s", build_id, exc)
        Build.objects.filter(build_id=build_id, status=BuildStatus.ACTIVE).update(
            status=BuildStatus.FAILED, error=str(exc), log=writer.text, end_time=now_ms(), timestamp=now_ms()
        )
        return
    signals.complete(
        build,
        version=version,
        log=writer.text,
        descriptor=descriptor,
        code_path=str(code_dir),
        env_path=str(env_dir),
    )


def _build_environment(
    env: str, descriptor: dict[str, Any], code_dir: Path, env_dir: Path, log: Callable[[str], None]
) -> None:
    try:
        language = languages.language(env)
    except languages.UnsupportedEnv as exc:
        raise BuildError(f"env {env} cannot be built on this machine yet") from exc
    options = BuildOptions(
        cache_dir=Path(settings.HKUBE_HOME) / "cache",
        install_cmd=descriptor.get("dependencyInstallCmd"),
        wrapper=descriptor.get("wrapper"),
        entry_point=descriptor.get("entryPoint"),
    )
    language.build(code_dir, env_dir, log=log, options=options)


class _Stopped(Exception):
    pass


def _stopped(build_id: str) -> bool:
    return Build.objects.filter(build_id=build_id, status=BuildStatus.STOPPED).exists()
