"""Builds: an uploaded archive becomes a runnable algorithm version.

The archive is kept in storage (`<cluster>-hkube-builds/<buildId>`), so a build can run on
any machine; the build (`builds/execute.py`, on the `builds` queue) unpacks it safely and
installs its dependencies into an environment of its own, per version. A failed build
leaves the current version serving. Builds know nothing of the algorithm models: the caller
hands over the descriptor, kept on the Build row for a rerun, and a completed build is
reported through `builds.signals.build_completed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from builds import cluster, tasks
from builds.models import GIT_EXT, Build, BuildStatus
from hkube_site.errors import InvalidData, NotFound
from hkube_site.object_store import get_storage
from pipelines.engine import ids
from pipelines.models import now_ms
from storage import paths

RUNNING = (BuildStatus.PENDING, BuildStatus.CREATING, BuildStatus.ACTIVE)


@dataclass(frozen=True)
class Package:
    """An uploaded code archive, stored for the build that will use it."""

    build_id: str
    file_path: str  # its storage key


def store_package(algorithm_name: str, archive: Path) -> Package:
    """Store an uploaded archive under a new build id. Slow I/O: call it before the
    transaction that creates the build opens, never inside it."""
    build_id = f"{algorithm_name}-{ids.uid(6)}"
    file_path = paths.build_upload(str(settings.HKUBE_CLUSTER_NAME), build_id)
    get_storage().adapter.put_bytes(file_path, archive.read_bytes())
    return Package(build_id=build_id, file_path=file_path)


def create_build(package: Package, descriptor: dict[str, Any]) -> Build:
    """A pending build of a stored package; it is queued once the caller's transaction
    commits. ``descriptor`` is the algorithm as applied (``name``, ``env``, ``fileInfo``,
    ``dependencyInstallCmd``, ``wrapper``, ``entryPoint``...): the Build row keeps it, so a
    rerun needs nothing else, and ``build_completed`` hands it back."""
    file_info = descriptor.get("fileInfo") or {}
    build = Build.objects.create(
        build_id=package.build_id,
        algorithm_name=descriptor["name"],
        env=descriptor.get("env", ""),
        file_ext=file_info.get("fileExt", ""),
        file_path=package.file_path,
        checksum=file_info.get("checksum", ""),
        algorithm=descriptor,
    )
    _enqueue_on_commit(package.build_id)
    return build


def create_git_build(descriptor: dict[str, Any]) -> Build:
    """A pending build of a git algorithm at its ``gitRepository.commit`` (a push webhook):
    the build clones the repository's branch (`execute.py`); queued on commit as the others."""
    repo = descriptor["gitRepository"]
    build_id = f"{descriptor['name']}-{ids.uid(6)}"
    build = Build.objects.create(
        build_id=build_id,
        algorithm_name=descriptor["name"],
        env=descriptor.get("env", ""),
        file_ext=GIT_EXT,
        file_path=str(repo["url"]),
        checksum=str((repo.get("commit") or {}).get("id") or ""),
        algorithm=descriptor,
    )
    _enqueue_on_commit(build_id)
    return build


def _enqueue_on_commit(build_id: str) -> None:
    transaction.on_commit(lambda: tasks.run_build.delay(build_id))


def get_build(build_id: str) -> Build:
    build = Build.objects.filter(build_id=build_id).first()
    if build is None:
        raise NotFound("build", build_id)
    return build


def list_builds(algorithm_name: str, *, newest_first: bool = True, limit: int | None = None) -> list[Build]:
    query = Build.objects.filter(algorithm_name=algorithm_name).order_by(
        "-start_time" if newest_first else "start_time"
    )
    return list(query[:limit] if limit is not None else query)


def stop_build(build_id: str) -> None:
    """Locally the running step (pip, npm, javac) is killed within half a second
    (`execute.py`); in the cluster the build's Job is deleted once this commits."""
    build = get_build(build_id)
    changed = Build.objects.filter(build_id=build_id, status__in=RUNNING).update(
        status=BuildStatus.STOPPED, end_time=now_ms()
    )
    if not changed:
        raise InvalidData(f"unable to stop build because its in {build.status} status")
    if cluster.enabled():
        transaction.on_commit(lambda: tasks.delete_build_job.delay(build_id))


def rerun_build(build_id: str) -> None:
    build = get_build(build_id)
    if build.status in RUNNING:
        raise InvalidData(f"unable to rerun build because its in {build.status} status")
    Build.objects.filter(build_id=build_id).update(
        status=BuildStatus.PENDING, progress=0, error=None, log="", end_time=None
    )
    _enqueue_on_commit(build_id)
