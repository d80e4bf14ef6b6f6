"""Job events, published after commit: what webhooks and pipeline triggers react to.

The driver calls these; they only enqueue work on the `events` queue, so a slow or
dead webhook receiver never slows a job.
"""

from __future__ import annotations

from django.db import transaction

from hkube_site import redis_client as rc
from pipelines import job_traces, messages
from pipelines.models import Job


def status_changed(job: Job, status: str, level: str = "info") -> None:
    """A job's status changed (pending, active, completed, failed, stopped, paused, resumed).

    Only jobs with a progress webhook need these, so others publish nothing (this is on
    the latency path of every job)."""
    if not ((job.pipeline or {}).get("webhooks") or {}).get("progress"):
        return
    job_id = job.job_id
    transaction.on_commit(lambda: messages.send_status_event(job_id, status, level))


def finished(job_id: str) -> None:
    """A job reached a final status and its result object is written.

    Also published on the control channel as `{"finished": jobId}`: an algorithm worker
    whose task waits on this job as a sub-pipeline answers that task (`algorithms.runtime.code_api`)."""

    def send() -> None:
        rc.publish({"finished": job_id})
        messages.send_finished_event(job_id)
        job_traces.job_ended(job_id)

    transaction.on_commit(send)
