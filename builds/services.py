"""Builds: an uploaded archive becomes a runnable algorithm version.

The archive is kept in storage (`<cluster>-hkube-builds/<buildId>`), so a build can run on
any machine; the build unpacks it safely and installs its dependencies into an
environment of its own, per version. A failed build leaves the current version serving.
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
from django.db import connection, transaction

from algorithms import services as algorithm_services
from algorithms.models import Algorithm, AlgorithmVersion
from builds.models import Build, BuildStatus
from hkube_site.errors import InvalidData, NotFound
from hkube_site.object_store import get_storage
from pipelines.engine import ids
from pipelines.models import now_ms
from storage import paths

log = logging.getLogger(__name__)


def create_build(descriptor: dict[str, Any], upload: algorithm_services.Upload) -> Build:
    name = descriptor["name"]
    build_id = f"{name}-{ids.uid(6)}"
    file_path = paths.build_upload(str(settings.HKUBE_CLUSTER_NAME), build_id)
    get_storage().adapter.put_bytes(file_path, upload.path.read_bytes())
    file_info = descriptor.get("fileInfo") or {}
    build = Build.objects.create(
        build_id=build_id,
        algorithm_name=name,
        env=descriptor.get("env", ""),
        file_ext=file_info.get("fileExt", ""),
        file_path=file_path,
        checksum=file_info.get("checksum", ""),
        algorithm=descriptor,
    )
    transaction.on_commit(lambda: _enqueue(build_id))
    return build


def _enqueue(build_id: str) -> None:
    from builds.tasks import run_build

    run_build.delay(build_id)


def get_build(build_id: str) -> Build:
    build = Build.objects.filter(build_id=build_id).first()
    if build is None:
        raise NotFound("build", build_id)
    return build


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
    from builds import environments

    # A stop (stop_build) kills the running step (pip, npm, javac) within half a second.
    with environments.stop_when(_stop_check(build_id)):
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
    from builds import environments, packaging

    changed = Build.objects.filter(build_id=build_id, status=BuildStatus.PENDING).update(
        status=BuildStatus.ACTIVE, progress=5, start_time=now_ms()
    )
    if not changed:
        return
    build = Build.objects.get(build_id=build_id)
    descriptor = dict(build.algorithm)
    version = ids.version_id()
    target = algorithm_services.version_dir(build.algorithm_name, version)
    code_dir, env_dir = target / "code", target / "env"
    writer = _LogWriter(build_id)
    try:
        writer(f"build {build_id}: algorithm {build.algorithm_name}, env {build.env}, version {version}")
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / f"code.{build.file_ext or 'gz'}"
            archive.write_bytes(get_storage().adapter.get_bytes(build.file_path))
            unpacked = packaging.unpack(archive, code_dir, max_bytes=int(settings.HKUBE_MAX_UNPACKED_BYTES))
        writer(f"unpacked {unpacked.files} files ({unpacked.total_bytes} bytes)")
        writer.flush(progress=30)
        if _stopped(build_id):
            raise _Stopped()
        if build.env == "python":
            environments.build_python_env(
                code_dir,
                env_dir,
                log=writer,
                pip_cache_dir=Path(settings.HKUBE_HOME) / "cache" / "pip",
                install_cmd=descriptor.get("dependencyInstallCmd"),
                wrapper=descriptor.get("wrapper"),
            )
        elif build.env == "nodejs":
            environments.build_nodejs_env(
                code_dir,
                env_dir,
                log=writer,
                install_cmd=descriptor.get("dependencyInstallCmd"),
                wrapper=descriptor.get("wrapper"),
            )
        elif build.env == "java":
            from builds import java

            java.build_java_env(
                code_dir,
                env_dir,
                log=writer,
                cache_dir=Path(settings.HKUBE_HOME) / "cache" / "java",
                install_cmd=descriptor.get("dependencyInstallCmd"),
                entry_point=descriptor.get("entryPoint"),
            )
        else:
            raise environments.BuildError(f"env {build.env} cannot be built on this machine yet")
        if _stopped(build_id):
            raise _Stopped()
        writer("build completed")
    except (_Stopped, environments.BuildStopped):
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
    _complete(build, descriptor, version, code_dir, env_dir, writer.text)


class _Stopped(Exception):
    pass


def _stopped(build_id: str) -> bool:
    return Build.objects.filter(build_id=build_id, status=BuildStatus.STOPPED).exists()


def _complete(
    build: Build, descriptor: dict[str, Any], version: str, code_dir: Path, env_dir: Path, log_text: str
) -> None:
    with transaction.atomic():
        changed = Build.objects.filter(build_id=build.build_id, status=BuildStatus.ACTIVE).update(
            status=BuildStatus.COMPLETED,
            progress=100,
            version=version,
            log=log_text,
            end_time=now_ms(),
            timestamp=now_ms(),
        )
        if not changed:
            return
        options = {**(descriptor.get("options") or {}), "pending": False}
        created = algorithm_services.create_version(
            {**descriptor, "options": options, "version": version},
            build_id=build.build_id,
            code_path=str(code_dir),
            env_path=str(env_dir),
        )
        earlier = AlgorithmVersion.objects.filter(algorithm_name=build.algorithm_name).exclude(pk=created.pk)
        # As HKube: the new build becomes current unless jobs are running on the old one.
        if not earlier.exists() or not algorithm_services.running_jobs_using(build.algorithm_name):
            algorithm_services.set_current(created)
        else:
            algorithm = Algorithm.objects.get(name=build.algorithm_name)
            algorithm.descriptor = {**algorithm.descriptor, "errors": [901]}
            algorithm.save(update_fields=["descriptor"])


def stop_build(build_id: str) -> None:
    build = get_build(build_id)
    changed = Build.objects.filter(
        build_id=build_id, status__in=[BuildStatus.PENDING, BuildStatus.CREATING, BuildStatus.ACTIVE]
    ).update(status=BuildStatus.STOPPED, end_time=now_ms())
    if not changed:
        raise InvalidData(f"unable to stop build because its in {build.status} status")


def rerun_build(build_id: str) -> None:
    build = get_build(build_id)
    if build.status in (BuildStatus.PENDING, BuildStatus.CREATING, BuildStatus.ACTIVE):
        raise InvalidData(f"unable to rerun build because its in {build.status} status")
    Build.objects.filter(build_id=build_id).update(
        status=BuildStatus.PENDING, progress=0, error=None, log="", end_time=None
    )
    transaction.on_commit(lambda: _enqueue(build_id))
