"""The engine's Celery messages, sent by task name.

The services send these; `pipelines.tasks` defines the tasks under the same names and calls
the services. Sending by name keeps the import graph one way (tasks -> services -> this
module) instead of each service importing `pipelines.tasks` inside a function. Task names
are routed to their queue by `CELERY_TASK_ROUTES` (`pipelines.tasks.*` -> `engine`).

Every send says `ignore_result=True`: a message sent by name does not know its task's
options, and without it Celery's Redis backend subscribes to the result's channel on each
send (a Redis round trip and a pub/sub subscription per message, on the latency path).
"""

from __future__ import annotations

from celery import Signature, signature

from hkube_site.queues import EVENTS

START_JOB = "pipelines.tasks.start_job"
NODE_FINISHED = "pipelines.tasks.node_finished"
NODE_FAILED_UNEXPECTEDLY = "pipelines.tasks.node_failed_unexpectedly"
JOB_STATUS_EVENT = "pipelines.tasks.job_status_event"
JOB_FINISHED_EVENT = "pipelines.tasks.job_finished_event"
EXPIRE_AND_RELEASE = "pipelines.tasks.expire_and_release"


def send_start_job(job_id: str, priority: int) -> None:
    signature(START_JOB, args=(job_id,)).apply_async(priority=priority, ignore_result=True)


def node_finished(job_id: str, node_name: str) -> Signature:
    """A chord's callback: the node's chunks all ended."""
    return signature(NODE_FINISHED, args=(job_id, node_name), immutable=True)


def node_failed_unexpectedly(job_id: str, node_name: str) -> Signature:
    """A chord's errback (immutable: Celery calls it with our arguments only)."""
    return signature(NODE_FAILED_UNEXPECTEDLY, args=(job_id, node_name), immutable=True)


def send_status_event(job_id: str, status: str, level: str) -> None:
    signature(JOB_STATUS_EVENT, args=(job_id, status, level)).apply_async(queue=EVENTS, ignore_result=True)


def send_finished_event(job_id: str) -> None:
    signature(JOB_FINISHED_EVENT, args=(job_id,)).apply_async(queue=EVENTS, ignore_result=True)
