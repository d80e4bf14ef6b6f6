"""Sending a node's messages to the algorithm workers: the one place that does.

Messages name the worker's task by its registered name (`taskspec.RUN_ITEMS`), so pipelines
never imports the algorithms app; which queue they go to and how the executor is woken is
the algorithms layer's answer (`ports.get()`). Celery's own routing and the task's options
apply as if the task object were used: a registered task is sent through its own
`apply_async`, an unknown name through `app.send_task`.
"""

from __future__ import annotations

from uuid import uuid4

from celery import chord
from celery.canvas import Signature

from hkube_site import tracing
from hkube_site.celery import app
from pipelines import messages, ports
from pipelines.taskspec import RUN_ITEMS, TaskSpec, for_message


def run_items(spec: TaskSpec, indices: list[int]) -> Signature:
    """The immutable `run_items(spec, indices)` signature."""
    return app.signature(RUN_ITEMS, args=(spec, indices), immutable=True)


def new_ids(count: int) -> list[str]:
    """Celery task ids for messages not sent yet: the driver writes them with the node's
    dispatch, in the same transaction, and `send_chunks` sends under them after commit."""
    return [str(uuid4()) for _ in range(count)]


def send_chunks(
    spec: TaskSpec, chunks: list[list[int]], *, inline_finish: bool, task_ids: list[str] | None = None
) -> list[str]:
    """Send one `run_items` message per chunk of item positions (under `task_ids` when
    given, else new ones); returns their Celery ids.

    `inline_finish`: each message's worker also finishes the node (`node_finished` when its
    items are recorded): no chord bookkeeping, no result to store, no hop through the engine
    queue. Otherwise the chunks are a chord whose callback, `node_finished` on the engine
    queue, runs once every chunk ended (`node_failed_unexpectedly` if the chord breaks)."""
    algorithms = ports.get()
    queue, workers = algorithms.route(spec)  # algorithm.<name>, or debug.<name> for a debug node
    with tracing.in_node(spec["jobId"], spec["nodeName"]):  # the messages carry the node's context
        sent = _send(spec, chunks, queue, inline_finish, task_ids or new_ids(len(chunks)))
    algorithms.wake(workers)
    return sent


def _send(
    spec: TaskSpec, chunks: list[list[int]], queue: str, inline_finish: bool, ids: list[str]
) -> list[str]:
    priority = int(spec["priority"])
    if inline_finish:
        message = for_message(spec, inline_finish=True)
        sent = [
            run_items(message, indices)
            .apply_async(queue=queue, priority=priority, ignore_result=True, task_id=task_id)
            .id
            for indices, task_id in zip(chunks, ids, strict=True)
        ]
    else:
        job_id, node_name = spec["jobId"], spec["nodeName"]
        header = [
            run_items(spec, indices).set(queue=queue, priority=priority, task_id=task_id)
            for indices, task_id in zip(chunks, ids, strict=True)
        ]
        body = messages.node_finished(job_id, node_name).on_error(
            messages.node_failed_unexpectedly(job_id, node_name)
        )
        result = chord(header)(body)
        sent = [r.id for r in (result.parent.results if result.parent else [])]
    return sent
