"""A platform worker (engine, control, events, builds) killed while running a task leaves
its message unacknowledged in Redis, where kombu gives it back only after the visibility
timeout (an hour): the job waits that long. So each task's delivery tag is noted under the
worker's node name while it runs, and when a worker of that name starts again (its
predecessor is gone: `up` and the harness run one of each), the messages the predecessor
was running go back to their queues. Engine tasks are compare-and-swap under the job's
lock, so running one again is harmless.

Algorithm workers are left out: the executor recovers their chunks
(`algorithms/scheduling/act.py`)."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, current_app
from celery.signals import celeryd_after_setup, task_postrun, task_prerun

from hkube_site import redis_client as rc

log = logging.getLogger(__name__)


def _platform_worker() -> bool:
    return not os.environ.get("HKUBE_WORKER_ALGORITHM")


def _delivery(task: Any) -> tuple[str, str] | None:
    request = getattr(task, "request", None)
    node = getattr(request, "hostname", None)
    tag = (getattr(request, "properties", None) or {}).get("delivery_tag")
    return (str(node), str(tag)) if node and tag else None


@task_prerun.connect
def _running(task: Any = None, **_: Any) -> None:
    delivery = _delivery(task)
    if delivery and _platform_worker():
        rc.note_delivery(*delivery)


@task_postrun.connect
def _ran(task: Any = None, **_: Any) -> None:
    delivery = _delivery(task)
    if delivery and _platform_worker():
        rc.forget_delivery(*delivery)


def restore_deliveries(node: str, app: Celery | None = None) -> int:
    """Put back the messages the previous worker named `node` was running; returns how many.
    `app`: the worker's app (Celery's current app by default)."""
    app = app or current_app
    tags = rc.take_deliveries(node)
    if tags:
        with app.connection_for_write() as connection:
            for tag in tags:
                connection.default_channel.qos.restore_by_tag(tag)
        log.warning("%s: put back %d message(s) its previous run was running when it died", node, len(tags))
    return len(tags)


@celeryd_after_setup.connect
def _restore(sender: str = "", instance: Any = None, **_: Any) -> None:
    if sender and _platform_worker():
        restore_deliveries(sender, getattr(instance, "app", None))
