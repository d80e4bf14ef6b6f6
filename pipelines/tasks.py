"""Engine tasks (queue `engine`): thin wrappers that read IDs and call one service."""

from __future__ import annotations

from celery import shared_task

from pipelines import services


@shared_task(name="pipelines.tasks.start_job", acks_late=True, ignore_result=True)
def start_job(job_id: str) -> None:
    services.start_job(job_id)


@shared_task(name="pipelines.tasks.node_finished", acks_late=True, ignore_result=True)
def node_finished(job_id: str, node_name: str) -> None:
    services.node_finished(job_id, node_name)


@shared_task(name="pipelines.tasks.node_failed_unexpectedly", acks_late=True, ignore_result=True)
def node_failed_unexpectedly(job_id: str, node_name: str) -> None:
    # An errback on an immutable signature: Celery calls it with our arguments only.
    services.node_failed_unexpectedly(job_id, node_name)


@shared_task(name="pipelines.tasks.job_status_event", acks_late=True, ignore_result=True)
def job_status_event(job_id: str, status: str, level: str) -> None:
    from pipelines import hooks

    hooks.on_status(job_id, status, level)


@shared_task(name="pipelines.tasks.job_finished_event", acks_late=True, ignore_result=True)
def job_finished_event(job_id: str) -> None:
    from pipelines import hooks

    hooks.on_finished(job_id)


@shared_task(name="pipelines.tasks.expire_and_release", ignore_result=True)
def expire_and_release() -> None:
    """Periodic: stop expired jobs (ttl, activeTtl) and start held jobs that have a slot."""
    from pipelines import scheduling

    scheduling.expire_jobs()
    scheduling.release_held_jobs()
