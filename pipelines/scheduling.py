"""Job admission over time: TTL expiry and `options.concurrentPipelines` holding.

`expire_jobs` and `release_held_jobs` run periodically (beat); release also runs right
after a job of the same pipeline ends.
"""

from __future__ import annotations

import logging

from django.db import transaction

from pipelines.models import Job, JobStatus, now_ms

log = logging.getLogger(__name__)

RUNNING = (JobStatus.PENDING, JobStatus.ACTIVE, JobStatus.PAUSED, JobStatus.RESUMED)


def expire_jobs() -> list[str]:
    """Stop jobs past `options.ttl` (counted from submission) or `options.activeTtl`
    (counted from when the job became active), with HKube's reasons."""
    from pipelines.services import stop_job

    now = now_ms()
    stopped = []
    for job in Job.objects.filter(status__in=RUNNING).only("job_id", "pipeline", "start_time", "active_time"):
        options = job.pipeline.get("options") or {}
        ttl = int(options.get("ttl") or 0)
        active_ttl = int(options.get("activeTtl") or 0)
        reason = None
        if ttl > 0 and job.start_time + ttl * 1000 < now:
            reason = "pipeline expired"
        elif active_ttl > 0 and job.active_time and job.active_time + active_ttl * 1000 < now:
            reason = "pipeline active TTL expired"
        if reason and stop_job(job.job_id, reason):
            log.info("job %s stopped: %s", job.job_id, reason)
            stopped.append(job.job_id)
    return stopped


def is_held(descriptor: dict[str, object], pipeline_name: str, experiment: str) -> bool:
    """At submission: must this job wait for a concurrency slot (`rejectOnFailure: false`)?"""
    options = descriptor.get("options")
    limit = options.get("concurrentPipelines") if isinstance(options, dict) else None
    if not limit or limit.get("rejectOnFailure", True):
        return False
    return _running(pipeline_name, experiment) >= int(limit["amount"])


def _running(pipeline_name: str, experiment: str) -> int:
    return (
        Job.objects.filter(pipeline_name=pipeline_name, experiment=experiment, status__in=RUNNING)
        .exclude(max_exceeded=True)
        .count()
    )


def release_held_jobs(pipeline_name: str | None = None) -> list[str]:
    """Start held jobs while their pipeline has free slots: higher priority first, then older."""
    from pipelines.services import enqueue_start

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
                .order_by("priority", "start_time")
            )
            if not waiting:
                continue
            limit = (waiting[0].pipeline.get("options") or {}).get("concurrentPipelines") or {}
            free = int(limit.get("amount", 1)) - _running(name, experiment)
            for job in waiting[: max(0, free)]:
                if Job.objects.filter(job_id=job.job_id, max_exceeded=True).update(max_exceeded=False):
                    job_id, priority = job.job_id, job.priority
                    transaction.on_commit(lambda j=job_id, p=priority: enqueue_start(j, p))  # type: ignore[misc]
                    released.append(job.job_id)
    return released


def job_ended(job: Job) -> None:
    """After a job ends: give its pipeline's slot to a held job (after commit)."""
    if not (job.pipeline.get("options") or {}).get("concurrentPipelines"):
        return
    name = job.pipeline_name
    transaction.on_commit(lambda: release_held_jobs(name))
