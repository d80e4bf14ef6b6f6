"""Engine tasks (queue `engine`): thin wrappers that read IDs and call one service.

The services send these by name (`pipelines.messages`), so nothing below imports this module.
"""

from __future__ import annotations

from celery import shared_task

from hkube_site.task_retry import DATABASE_RETRY
from pipelines import hooks, messages, services


@shared_task(name=messages.START_JOB, acks_late=True, ignore_result=True, **DATABASE_RETRY)
def start_job(job_id: str) -> None:
    services.start_job(job_id)


@shared_task(name=messages.NODE_FINISHED, acks_late=True, ignore_result=True, **DATABASE_RETRY)
def node_finished(job_id: str, node_name: str) -> None:
    services.node_finished(job_id, node_name)


@shared_task(name=messages.NODE_FAILED_UNEXPECTEDLY, acks_late=True, ignore_result=True, **DATABASE_RETRY)
def node_failed_unexpectedly(job_id: str, node_name: str) -> None:
    # An errback on an immutable signature: Celery calls it with our arguments only.
    services.node_failed_unexpectedly(job_id, node_name)


@shared_task(name=messages.JOB_STATUS_EVENT, acks_late=True, ignore_result=True, **DATABASE_RETRY)
def job_status_event(job_id: str, status: str, level: str) -> None:
    hooks.on_status(job_id, status, level)


@shared_task(name=messages.JOB_FINISHED_EVENT, acks_late=True, ignore_result=True, **DATABASE_RETRY)
def job_finished_event(job_id: str) -> None:
    hooks.on_finished(job_id)


@shared_task(name=messages.EXPIRE_AND_RELEASE, ignore_result=True)
def expire_and_release() -> None:
    """Periodic: stop expired jobs (ttl, activeTtl), start held jobs that have a slot, and
    send again the start of jobs whose start message was lost."""
    services.expire_jobs()
    services.release_held_jobs()
    services.restart_stalled_jobs()
