"""Build tasks (queue `builds`): builds never block the engine."""

from __future__ import annotations

from celery import shared_task

from builds import execute


@shared_task(name="builds.tasks.run_build", acks_late=True, ignore_result=True)
def run_build(build_id: str) -> None:
    execute.run_build(build_id)
