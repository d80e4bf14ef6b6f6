"""Apply the executor's plan: start and stop workers through the launcher, keep the worker
registry and the holdings, put lost chunks back, publish why algorithms wait, and fail the
nodes waiting on an algorithm that can never be placed."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

from django.conf import settings
from kombu.exceptions import ContentDisallowed
from kombu.serialization import loads, prepare_accept_content

from algorithms import debug as debugging
from algorithms import resources
from algorithms.launcher import Launcher
from algorithms.scheduling.observe import priority_lists
from algorithms.scheduling.snapshot import Plan, Worker
from hkube_site import redis_client as rc
from hkube_site.celery import app
from hkube_site.queues import algorithm_queue
from pipelines import services
from pipelines.engine.retry import retry_of
from pipelines.models import FINAL_JOB_STATUSES, Job, JobNode, JobStatus, NodeStatus

log = logging.getLogger(__name__)


def forget_lost(workers: list[Worker]) -> list[int]:
    """Workers that are gone: put back the chunk each was running, remove them from the
    registry. Returns the pids of their algorithm processes (as their last heartbeats said):
    a worker killed hard never closed its algorithm process, and HKube's wrapper would try to
    reconnect to it for ever."""
    algorithm_pids: list[int] = []
    for worker in workers:
        log.warning("worker %s of %s is gone", worker.id, worker.algorithm)
        recover_lost_chunk(worker.id)
        raw = rc.client().hget(rc.WORKERS_KEY, worker.id)
        algorithm_pid = json.loads(raw).get("algorithmPid") if raw else None
        if isinstance(algorithm_pid, int) and algorithm_pid > 1:
            algorithm_pids.append(algorithm_pid)
        rc.client().hdel(rc.WORKERS_KEY, worker.id)
    return algorithm_pids


def apply(plan: Plan, launch: Launcher) -> tuple[list[str], list[str]]:
    """Carry out `plan`; returns the ids of the workers (started, stopped)."""
    forget_lost(plan.lost)
    resources.release(*plan.release)
    stopped = []
    for worker in plan.stop:
        launch.stop(worker.id, worker.pid)
        rc.client().hdel(rc.WORKERS_KEY, worker.id)
        resources.release(worker.id)
        stopped.append(worker.id)
    started = []
    for start in plan.start:
        if start.holding is None:  # a debug worker: registered under debug:<name>, holds nothing
            key = debugging.worker_key(start.algorithm)
            handle = launch.start(key)
            register_starting(key, handle.worker_id, handle.pid)
        else:
            handle = launch.start(start.algorithm, start.env)
            register_starting(start.algorithm, handle.worker_id, handle.pid)
            resources.hold(handle.worker_id, start.holding)
        started.append(handle.worker_id)
    resources.save_unscheduled(plan.warnings)
    if plan.never:
        fail_unplaceable(plan.never)
    return started, stopped


def register_starting(algorithm_name: str, worker_id: str, pid: int) -> None:
    now = time.time()
    record = {"id": worker_id, "algorithm": algorithm_name, "pid": pid, "busy": False, "lastActive": now,
              "seen": now, "started": now, "starting": True}  # fmt: skip
    rc.client().hset(rc.WORKERS_KEY, worker_id, json.dumps(record))


def recover_lost_chunk(worker_id: str) -> None:
    """A worker died while running a chunk: put the very same message back at the head of
    its queue (kombu's restore of an unacked message), so its chord still completes.

    The node's retry policy decides what the next delivery does: with `Never`, or once
    the chunk's workers died more than `limit` times, its items are recorded as crashed
    instead of being run again (HKube's CrashLoopBackOff)."""
    client = rc.client()
    fate = rc.pop_worker_fate(worker_id)  # why its pod ended, when the Kubernetes supervisor saw it
    raw = client.hget(rc.INFLIGHT_KEY, worker_id)
    if not raw:
        return
    inflight = json.loads(raw)
    key, node = inflight["chunk"], inflight.get("nodeName", "")
    retry = retry_of(inflight.get("retry"))
    policy, limit = retry.policy, retry.limit
    attempts = int(client.incr(rc.ATTEMPTS_PREFIX + key))
    client.expire(rc.ATTEMPTS_PREFIX + key, 7 * 24 * 3600)
    if not retry.retries(crashed=True):
        message = fate or f"algorithm worker crashed while running node {node} (retry policy {policy})"
        client.set(rc.CRASHLOOP_PREFIX + key, message, ex=7 * 24 * 3600)
    elif attempts > limit:
        message = f"node {node} is in CrashLoopBackOff, attempts: {limit}/{limit}"
        message = f"{fate} ({message})" if fate else message
        client.set(rc.CRASHLOOP_PREFIX + key, message, ex=7 * 24 * 3600)
    else:
        log.warning("node %s: worker %s died, running its chunk again (attempt %d/%d)", node, worker_id,
                    attempts, limit)  # fmt: skip
    with app.connection_for_write() as connection:
        connection.default_channel.qos.restore_by_tag(inflight["deliveryTag"])
    client.hdel(rc.INFLIGHT_KEY, worker_id)


def fail_unplaceable(never: dict[str, str]) -> None:
    """Fail the jobs waiting on an algorithm whose request can never fit (HKube's `isError`:
    the node gets the error instead of waiting forever), then drop their queued messages."""
    for name, message in never.items():
        waiting = JobNode.objects.filter(
            algorithm_name=name, status=NodeStatus.ACTIVE, job__status=JobStatus.ACTIVE
        ).values_list("job_id", "node_name")
        for job_id, node_name in waiting:
            log.warning("job %s node %s: %s", job_id, node_name, message)
            services.node_failed_unexpectedly(job_id, node_name, never_fits_error(name, message))
        purge_ended_jobs(name)


def never_fits_error(algorithm_name: str, message: str) -> str:
    if str(settings.HKUBE_LAUNCHER) == "kubernetes":
        return (
            f"{message}: algorithm {algorithm_name} asks for more than any node it may use offers; lower "
            "its cpu/mem/gpu, or add a larger node (and check its nodeSelector and tolerations)"
        )
    return resources.never_fits_error(algorithm_name, message)


def _job_of(raw: bytes | str, accept: set[str]) -> str | None:
    """The jobId of a `run_items` message as kombu's Redis transport stores it."""
    try:
        message = json.loads(raw)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        decoded = loads(body, message["content-type"], message["content-encoding"], accept=accept)  # type: ignore[no-untyped-call]
        args = decoded[0]
        return str(args[0]["jobId"])
    except (ValueError, KeyError, TypeError, IndexError, ContentDisallowed):
        return None  # not a run_items message: left alone


def purge_ended_jobs(algorithm_name: str) -> int:
    """Remove from an algorithm's queue the messages of jobs that ended (a job failed while
    its messages waited for a worker that could never start). Returns how many."""
    client = rc.client()
    queue = algorithm_queue(algorithm_name)
    # Any: the raw message as redis-py returns it (bytes here), handed back to lrem unchanged.
    entries: list[tuple[str, Any]] = [
        (key, raw) for key in priority_lists(queue) for raw in client.lrange(key, 0, -1)
    ]
    accept = prepare_accept_content(settings.CELERY_ACCEPT_CONTENT)  # type: ignore[no-untyped-call]
    jobs = {raw: _job_of(raw, accept) for _, raw in entries}
    ended = set(
        Job.objects.filter(
            job_id__in={j for j in jobs.values() if j}, status__in=FINAL_JOB_STATUSES
        ).values_list("job_id", flat=True)
    )
    removed = 0
    for key, raw in entries:
        if jobs[raw] in ended:
            removed += int(client.lrem(key, 1, raw))
    return removed
