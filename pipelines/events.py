"""Job events, published after commit: what webhooks and pipeline triggers react to.

The driver calls these; they only enqueue work on the `control` queue, so a slow or
dead webhook receiver never slows a job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from hkube_site.queues import EVENTS

if TYPE_CHECKING:
    from pipelines.models import Job


def status_changed(job: Job, status: str, level: str = "info") -> None:
    """A job's status changed (pending, active, completed, failed, stopped, paused, resumed).

    Only jobs with a progress webhook need these, so others publish nothing (this is on
    the latency path of every job)."""
    if not ((job.pipeline or {}).get("webhooks") or {}).get("progress"):
        return
    job_id = job.job_id

    def send() -> None:
        from pipelines.tasks import job_status_event

        job_status_event.apply_async((job_id, status, level), queue=EVENTS)

    transaction.on_commit(send)


def finished(job_id: str) -> None:
    """A job reached a final status and its result object is written.

    Also published on the control channel as `{"finished": jobId}`: an algorithm worker
    whose task waits on this job as a sub-pipeline answers that task (`algorithms.runtime.code_api`)."""

    def send() -> None:
        from hkube_site import redis_client as rc
        from pipelines.tasks import job_finished_event

        rc.publish({"finished": job_id})
        job_finished_event.apply_async((job_id,), queue=EVENTS)

    transaction.on_commit(send)
