"""The executor: decides how many workers each algorithm gets, and asks the launcher.

It runs as a Celery task on the `control` queue, periodically (beat) and on demand.
Demand is the number of queued messages per algorithm queue plus the busy workers;
supply is bounded by the worker slots and the cpu/mem/gpu budget (`resources.py`): a
worker holds its algorithm's request while it runs. Algorithms are served in priority
order (their highest-priority queued work, then the longest waiting); one that cannot get
a worker gets HKube's `failedScheduling` warning, and one whose request can never fit
fails its waiting nodes. GPU workers get their own devices (CUDA_VISIBLE_DEVICES). Idle
workers beyond `minHotWorkers` are stopped after `HKUBE_WORKER_IDLE_SECONDS`.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from algorithms import debug as debugging
from algorithms import resources
from algorithms.launcher import LocalLauncher
from hkube_site import redis_client as rc
from hkube_site.queues import algorithm_queue

log = logging.getLogger(__name__)

HEARTBEAT_GRACE = 15.0  # seconds without a heartbeat before a worker counts as dead
START_GRACE = 60.0  # a worker that has not sent its first heartbeat yet


@dataclass
class Worker:
    id: str
    algorithm: str
    pid: int
    busy: bool
    last_active: float
    seen: float
    started: float


@lru_cache(maxsize=1)
def launcher() -> LocalLauncher:
    home = Path(settings.HKUBE_HOME)
    return LocalLauncher(home / "logs" / "workers", Path(settings.BASE_DIR))


def _priority_lists(queue: str) -> list[str]:
    """kombu's Redis lists of one queue, served in this order: step 0 is the bare name."""
    return [queue] + [f"{queue}:{step}" for step in range(1, 10)]


def queue_steps(algorithm_name: str) -> list[int]:
    """Messages waiting in an algorithm queue per kombu priority step (HKube priority p is
    step p), in one round trip."""
    pipe = rc.client().pipeline()
    for key in _priority_lists(algorithm_queue(algorithm_name)):
        pipe.llen(key)
    return [int(n) for n in pipe.execute()]


def queue_depth(algorithm_name: str) -> int:
    """Messages waiting in an algorithm queue, over all of kombu's priority lists."""
    return sum(queue_steps(algorithm_name))


def registered_workers() -> list[Worker]:
    workers = []
    for raw in rc.client().hgetall(rc.WORKERS_KEY).values():
        data = json.loads(raw)
        workers.append(
            Worker(
                id=data["id"],
                algorithm=data["algorithm"],
                pid=int(data["pid"]),
                busy=bool(data.get("busy")),
                last_active=float(data.get("lastActive") or 0),
                seen=float(data.get("seen") or 0),
                started=float(data.get("started") or 0),
            )
        )
    return workers


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
    raw = client.hget(rc.INFLIGHT_KEY, worker_id)
    if not raw:
        return
    inflight = json.loads(raw)
    key, node = inflight["chunk"], inflight.get("nodeName", "")
    retry = inflight.get("retry") or {}
    policy, limit = retry.get("policy", "OnCrash"), int(retry.get("limit", 3))
    attempts = int(client.incr(rc.ATTEMPTS_PREFIX + key))
    client.expire(rc.ATTEMPTS_PREFIX + key, 7 * 24 * 3600)
    if policy in ("Never", "OnError"):
        message = f"algorithm worker crashed while running node {node} (retry policy {policy})"
        client.set(rc.CRASHLOOP_PREFIX + key, message, ex=7 * 24 * 3600)
    elif attempts > limit:
        message = f"node {node} is in CrashLoopBackOff, attempts: {limit}/{limit}"
        client.set(rc.CRASHLOOP_PREFIX + key, message, ex=7 * 24 * 3600)
    else:
        log.warning("node %s: worker %s died, running its chunk again (attempt %d/%d)", node, worker_id,
                    attempts, limit)  # fmt: skip
    from hkube_site.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.qos.restore_by_tag(inflight["deliveryTag"])
    client.hdel(rc.INFLIGHT_KEY, worker_id)


def reconcile() -> dict[str, Any]:
    client = rc.client()
    if not client.set(rc.EXECUTOR_LOCK, "1", nx=True, px=20_000):
        return {"skipped": "another executor is reconciling"}
    try:
        return _reconcile()
    finally:
        client.delete(rc.EXECUTOR_LOCK)


NO_WORK = 99  # the rank of an algorithm with nothing queued: after every priority step


def _reconcile() -> dict[str, Any]:
    from algorithms.models import Algorithm

    now = time.time()
    launch = launcher()
    workers = []
    for worker in registered_workers():
        grace = START_GRACE if now - worker.started < START_GRACE else HEARTBEAT_GRACE
        if now - worker.seen > grace or not launch.alive(worker.id, worker.pid):
            log.warning("worker %s of %s is gone", worker.id, worker.algorithm)
            recover_lost_chunk(worker.id)
            rc.client().hdel(rc.WORKERS_KEY, worker.id)
            continue
        workers.append(worker)
    # Debug workers hold no resources here and are reconciled apart (algorithms/debug.py).
    workers, debug_workers = debugging.split_workers(workers)
    # A heartbeat is up to 2 s old; the in-flight record is written as a chunk starts, so a
    # worker that has just taken a message is never taken for idle (stopped, or its room
    # given to another algorithm, while it runs).
    running = {k.decode() if isinstance(k, bytes) else str(k) for k in rc.client().hkeys(rc.INFLIGHT_KEY)}
    for worker in workers:
        worker.busy = worker.busy or worker.id in running

    algorithms = {a.name: a.descriptor for a in Algorithm.objects.all()}
    by_algorithm: dict[str, list[Worker]] = {}
    for worker in workers:
        by_algorithm.setdefault(worker.algorithm, []).append(worker)

    # What each worker holds: what it was started with, or (started before holdings were
    # kept) its algorithm's request. Holdings of workers that are gone free their devices.
    held = resources.holdings()
    resources.release(*(worker_id for worker_id in held if worker_id not in {w.id for w in workers}))

    def holding_of(worker: Worker) -> resources.Holding:
        return held.get(worker.id) or resources.Holding(
            worker.algorithm, resources.request_of(algorithms.get(worker.algorithm, {}))
        )

    ledger = resources.Ledger(resources.budget(), int(settings.HKUBE_MAX_WORKERS))
    for worker in workers:
        ledger.add(holding_of(worker))

    # Priority: the lowest non-empty kombu priority list (HKube priority 1 first); then an
    # algorithm with no worker before one that has some; then the one waiting longest.
    steps = {name: queue_steps(name) for name in algorithms}
    depths = {name: sum(counts) for name, counts in steps.items()}
    rank = {name: next((i for i, n in enumerate(counts) if n), NO_WORK) for name, counts in steps.items()}
    since = resources.track_waiting({name for name, depth in depths.items() if depth}, now)
    order = sorted(algorithms, key=lambda n: (rank[n], bool(by_algorithm.get(n)), since.get(n, now), n))

    started: list[str] = []
    stopped: list[str] = []
    warnings: dict[str, dict[str, Any]] = {}
    never: dict[str, str] = {}

    def hot(name: str) -> int:
        return int(algorithms.get(name, {}).get("minHotWorkers") or 0)

    def stop(worker: Worker) -> None:
        launch.stop(worker.id, worker.pid)
        rc.client().hdel(rc.WORKERS_KEY, worker.id)
        ledger.remove(holding_of(worker))
        resources.release(worker.id)
        stopped.append(worker.id)

    def reclaim(for_algorithm: str) -> bool:
        """Stop one idle worker of an algorithm with nothing queued, or with lower-priority
        work only, to make room.

        Workers stay warm while there is room; when another algorithm is waiting they give
        way, those with nothing queued first, oldest idle first, never below `minHotWorkers`."""
        candidates = [
            w
            for w in workers
            if w.algorithm != for_algorithm
            and not w.busy
            and w.id not in stopped
            and rank.get(w.algorithm, NO_WORK) > rank[for_algorithm]
            and sum(1 for x in by_algorithm[w.algorithm] if x.id not in stopped) > hot(w.algorithm)
        ]
        if not candidates:
            return False
        stop(min(candidates, key=lambda w: (-rank.get(w.algorithm, NO_WORK), w.last_active)))
        return True

    for name in order:
        descriptor = algorithms[name]
        mine = [w for w in by_algorithm.get(name, []) if w.id not in stopped]
        depth = depths[name]
        cap = int(descriptor.get("maxWorkers") or 0) or ledger.max_workers
        wanted = min(cap, max(hot(name), depth + sum(1 for w in mine if w.busy)))
        request = resources.request_of(descriptor)
        over = resources.over_capacity(request, ledger.budget.total) if len(mine) < wanted else None
        if over:
            warnings[name] = resources.unscheduled_warning(name, over, request, is_error=True, now=now)
            if depth and not mine:
                never[name] = over
        while not over and len(mine) < wanted:
            problem = ledger.problem(request)
            # Evict warm workers of other algorithms only for an algorithm that has none.
            while problem and depth and not mine and reclaim(name):
                problem = ledger.problem(request)
            if problem:
                if not mine:
                    warnings[name] = resources.unscheduled_warning(
                        name, problem, request, is_error=False, now=now
                    )
                    if depth:
                        ledger.reserve(name, request)
                break
            devices = ledger.take_devices(request.gpu)
            env = {"CUDA_VISIBLE_DEVICES": ",".join(devices)} if request.gpu else {}
            # A worker without devices is started as before (launchers without `env` still work).
            handle = launch.start(name, env) if env else launch.start(name)
            register_starting(name, handle.worker_id, handle.pid)
            holding = resources.Holding(name, request, devices)
            resources.hold(handle.worker_id, holding)
            ledger.add(holding)
            mine.append(Worker(handle.worker_id, name, handle.pid, False, now, now, now))
            started.append(handle.worker_id)
        idle_limit = float(settings.HKUBE_WORKER_IDLE_SECONDS)
        idle = sorted(
            (w for w in mine if not w.busy and now - w.last_active > idle_limit), key=lambda w: w.last_active
        )
        surplus = len(mine) - max(hot(name), wanted)
        for worker in idle[: max(0, surplus)]:
            stop(worker)

    for worker in workers:
        if worker.algorithm not in algorithms and worker.id not in stopped:  # deleted algorithm
            stop(worker)
    idle_seconds = float(settings.HKUBE_WORKER_IDLE_SECONDS)
    debug_started, debug_stopped = debugging.reconcile_workers(
        launch, debug_workers, list(algorithms), idle_seconds
    )
    started, stopped = started + debug_started, stopped + debug_stopped
    resources.save_unscheduled(warnings)
    if never:
        _fail_unplaceable(never)
    if started or stopped:
        log.info("executor: started %s, stopped %s", started, stopped)
    return {
        "started": started,
        "stopped": stopped,
        "workers": ledger.workers,
        "cpu": math.floor(ledger.used.cpu * 100) / 100,
        "unscheduled": {name: warning["message"] for name, warning in warnings.items()},
    }


def _fail_unplaceable(never: dict[str, str]) -> None:
    """Fail the jobs waiting on an algorithm whose request can never fit (HKube's `isError`:
    the node gets the error instead of waiting forever), then drop their queued messages."""
    from pipelines import services
    from pipelines.models import JobNode, JobStatus, NodeStatus

    for name, message in never.items():
        waiting = JobNode.objects.filter(
            algorithm_name=name, status=NodeStatus.ACTIVE, job__status=JobStatus.ACTIVE
        ).values_list("job_id", "node_name")
        for job_id, node_name in waiting:
            log.warning("job %s node %s: %s", job_id, node_name, message)
            services.node_failed_unexpectedly(job_id, node_name, resources.never_fits_error(name, message))
        purge_ended_jobs(name)


def purge_ended_jobs(algorithm_name: str) -> int:
    """Remove from an algorithm's queue the messages of jobs that ended (a job failed while
    its messages waited for a worker that could never start). Returns how many."""
    from kombu.exceptions import ContentDisallowed
    from kombu.serialization import loads, prepare_accept_content

    from pipelines.models import FINAL_JOB_STATUSES, Job

    client = rc.client()
    queue = algorithm_queue(algorithm_name)
    entries: list[tuple[str, Any]] = [
        (key, raw) for key in _priority_lists(queue) for raw in client.lrange(key, 0, -1)
    ]

    accept = prepare_accept_content(settings.CELERY_ACCEPT_CONTENT)  # type: ignore[no-untyped-call]

    def job_of(raw: Any) -> str | None:
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

    jobs = {raw: job_of(raw) for _, raw in entries}
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


def stop_all_workers(timeout: float = 15.0) -> None:
    """Stop every registered local worker and wait for them (used when `manage.py up` exits).

    SIGTERM lets a worker finish its chunk and close its algorithm process; whatever is
    still alive after `timeout` is killed."""
    launch = launcher()
    workers = registered_workers()
    for worker in workers:
        launch.stop(worker.id, worker.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(launch.alive(w.id, w.pid) for w in workers):
        time.sleep(0.1)
    for worker in workers:
        if launch.alive(worker.id, worker.pid):
            launch.kill(worker.pid)
    # A worker killed before it closed its algorithm process leaves that process group behind.
    for raw in rc.client().hgetall(rc.WORKERS_KEY).values():
        algorithm_pid = json.loads(raw).get("algorithmPid")
        if algorithm_pid:
            launch.kill(int(algorithm_pid))
    rc.client().delete(rc.WORKERS_KEY)
    resources.release_all()
