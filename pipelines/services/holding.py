"""`options.concurrentPipelines` holding: jobs that wait for a slot of their pipeline.

A held job is `pending` with `max_exceeded` set; releasing it clears the flag by
compare-and-swap and queues its start after commit. `release_held_jobs` runs periodically
(beat) and right after a job of the same pipeline ends (`job_ended`).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F

from pipelines import messages
from pipelines.models import RUNNING_JOB_STATUSES, Job, JobStatus

log = logging.getLogger(__name__)


def is_held(descriptor: dict[str, object], pipeline_name: str, experiment: str) -> bool:
    """At submission: must this job wait for a concurrency slot (`rejectOnFailure: false`)?"""
    options = descriptor.get("options")
    limit = options.get("concurrentPipelines") if isinstance(options, dict) else None
    if not limit or limit.get("rejectOnFailure", True):
        return False
    return _running(pipeline_name, experiment) >= int(limit["amount"])


def _running(pipeline_name: str, experiment: str) -> int:
    return (
        Job.objects.filter(
            pipeline_name=pipeline_name, experiment=experiment, status__in=RUNNING_JOB_STATUSES
        )
        .exclude(max_exceeded=True)
        .count()
    )


def release_held_jobs(pipeline_name: str | None = None) -> list[str]:
    """Start held jobs while their pipeline has free slots: the preferred queue's first (in
    its order), then higher priority, then older."""
    held = Job.objects.filter(max_exceeded=True, status=JobStatus.PENDING)
    if pipeline_name:
        held = held.filter(pipeline_name=pipeline_name)
    released = []
    for name, experiment in set(held.values_list("pipeline_name", "experiment")):
        with transaction.atomic():
            # Serialise releases of one pipeline: lock its held jobs.
            waiting = list(
                held.select_for_update()
                .filter(pipeline_name=name, experiment=experiment)
                .order_by(F("preferred_rank").asc(nulls_last=True), "priority", "start_time")
            )
            if not waiting:
                continue
            limit = (waiting[0].pipeline.get("options") or {}).get("concurrentPipelines") or {}
            free = int(limit.get("amount", 1)) - _running(name, experiment)
            for job in waiting[: max(0, free)]:
                if Job.objects.filter(job_id=job.job_id, max_exceeded=True).update(max_exceeded=False):
                    job_id, priority = job.job_id, job.priority
                    transaction.on_commit(
                        lambda j=job_id, p=priority: messages.send_start_job(j, p)  # type: ignore[misc]
                    )
                    released.append(job.job_id)
    return released


def job_ended(job: Job) -> None:
    """After a job ends: give its pipeline's slot to a held job (after commit)."""
    if not (job.pipeline.get("options") or {}).get("concurrentPipelines"):
        return
    name = job.pipeline_name
    transaction.on_commit(lambda: release_held_jobs(name))
