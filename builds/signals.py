"""What builds tells the layers above it. Builds never imports algorithms: `algorithms`
connects its receiver in `AlgorithmsConfig.ready()`."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

from builds.models import Build, BuildStatus
from pipelines.models import now_ms

# Sent once per build that completed, inside the transaction that marks the Build row
# `completed` (so a receiver's failure rolls the completion back with its own writes).
# Keyword arguments:
#   build_id: str; algorithm_name: str;
#   descriptor: dict[str, Any]  (the algorithm as applied, kept on the Build row);
#   version: str  (the new version's id); code_path: str; env_path: str  (local builds);
#   image: str  (cluster builds: the pushed image, also the descriptor's `algorithmImage`;
#   code_path and env_path are empty then).
# The receiver creates the version, and makes it current as HKube does.
build_completed = Signal()


def complete(
    build: Build,
    *,
    version: str,
    log: str,
    descriptor: dict[str, Any],
    code_path: str = "",
    env_path: str = "",
    image: str | None = None,
) -> bool:
    """Mark an active build completed and send `build_completed`, in one transaction; False
    when it was no longer active (stopped meanwhile, or a redelivered message)."""
    extra = {} if image is None else {"image": image}
    with transaction.atomic():
        changed = Build.objects.filter(build_id=build.build_id, status=BuildStatus.ACTIVE).update(
            status=BuildStatus.COMPLETED,
            progress=100,
            version=version,
            log=log,
            end_time=now_ms(),
            timestamp=now_ms(),
        )
        if not changed:
            return False
        build_completed.send(
            sender=Build,
            build_id=build.build_id,
            algorithm_name=build.algorithm_name,
            descriptor=descriptor,
            version=version,
            code_path=code_path,
            env_path=env_path,
            **extra,
        )
    return True
