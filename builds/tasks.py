"""Build tasks (queue `builds`): builds never block the engine.

Locally a build runs in the worker (`execute.py`). In the cluster (`cluster.py`) the worker
only creates the build Job and then follows it with `poll_build`, a task that looks once and
re-schedules itself: no worker ever waits on a pod.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from builds import cluster, execute
from k8s.client import Retryable

START_RETRIES = 30


@shared_task(
    name="builds.tasks.run_build", bind=True, acks_late=True, ignore_result=True, max_retries=START_RETRIES
)
def run_build(self: Any, build_id: str) -> None:
    if not cluster.enabled():
        execute.run_build(build_id)
        return
    try:
        delay = cluster.start_build(build_id)
    except Retryable as exc:
        if self.request.retries >= START_RETRIES:
            cluster.fail_creation(build_id, exc.message)
            return
        raise self.retry(countdown=exc.retry_after or 5, exc=exc) from exc
    if delay is not None:
        poll_build.apply_async((build_id,), countdown=delay)


@shared_task(name="builds.tasks.poll_build", ignore_result=True)
def poll_build(build_id: str) -> None:
    delay = cluster.poll_build(build_id)
    if delay is not None:
        poll_build.apply_async((build_id,), countdown=delay)


@shared_task(name="builds.tasks.delete_build_job", bind=True, ignore_result=True, max_retries=10)
def delete_build_job(self: Any, build_id: str) -> None:
    try:
        cluster.delete_build_job(build_id)
    except Retryable as exc:
        raise self.retry(countdown=exc.retry_after or 5, exc=exc) from exc
