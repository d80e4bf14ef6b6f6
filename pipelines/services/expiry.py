"""TTL expiry: jobs past `options.ttl` or `options.activeTtl` are stopped (beat, periodically)."""

from __future__ import annotations

import logging

from pipelines.models import RUNNING_JOB_STATUSES, Job, now_ms
from pipelines.services.ending import stop_job

log = logging.getLogger(__name__)


def expire_jobs() -> list[str]:
    """Stop jobs past `options.ttl` (counted from submission) or `options.activeTtl`
    (counted from when the job became active), with HKube's reasons."""
    now = now_ms()
    stopped = []
    running = Job.objects.filter(status__in=RUNNING_JOB_STATUSES).only(
        "job_id", "pipeline", "start_time", "active_time"
    )
    for job in running:
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
