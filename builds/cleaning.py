"""Cleaning old build uploads by age (HKube's gc-service `storage` cleaner, its builds part):
the code archive of a build that ended before the cutoff leaves storage; the build row stays
(its status and log remain readable, a rerun of it then finds no archive)."""

from __future__ import annotations

from django.db.models import Q

from builds.models import Build, BuildStatus
from hkube_site.object_store import get_storage

FINAL_BUILD_STATUSES = (BuildStatus.COMPLETED, BuildStatus.FAILED, BuildStatus.STOPPED)


def clean_build_uploads(cutoff_ms: int, *, dry_run: bool) -> list[str]:
    """Returns the build ids whose upload was (or, dry, would be) removed."""
    adapter = get_storage().adapter
    ended = Q(end_time__lt=cutoff_ms) | Q(end_time__isnull=True, timestamp__lt=cutoff_ms)
    builds = Build.objects.filter(ended, status__in=FINAL_BUILD_STATUSES).exclude(file_path="")
    cleaned = []
    for build_id, file_path in builds.order_by("start_time").values_list("build_id", "file_path"):
        if not adapter.exists(file_path):
            continue
        if not dry_run:
            adapter.delete_prefix(file_path)
        cleaned.append(build_id)
    return cleaned
