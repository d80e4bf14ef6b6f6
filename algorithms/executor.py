"""The executor: decides how many workers each algorithm gets, and asks the launcher.

It runs as a Celery task on the `control` queue, periodically (beat) and on demand.
Demand is the number of queued messages per algorithm queue plus the busy workers;
supply is bounded by the machine's worker slots and cpu budget. Idle workers beyond
`minHotWorkers` are stopped after `HKUBE_WORKER_IDLE_SECONDS`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

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


def queue_depth(algorithm_name: str) -> int:
    """Messages waiting in an algorithm queue, over all of kombu's priority lists."""
    client = rc.client()
    queue = algorithm_queue(algorithm_name)
    pipe = client.pipeline()
    pipe.llen(queue)
    for step in range(1, 10):
        pipe.llen(f"{queue}:{step}")
    return int(sum(pipe.execute()))


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

    algorithms = {a.name: a.descriptor for a in Algorithm.objects.all()}
    by_algorithm: dict[str, list[Worker]] = {}
    for worker in workers:
        by_algorithm.setdefault(worker.algorithm, []).append(worker)

    max_workers = int(settings.HKUBE_MAX_WORKERS)
    cpu_budget = float(settings.HKUBE_CPU_BUDGET)
    used_cpu = sum(float(algorithms.get(w.algorithm, {}).get("cpu", 0.1)) for w in workers)
    count = len(workers)
    started: list[str] = []
    stopped: list[str] = []

    depths = {name: queue_depth(name) for name in algorithms}

    def reclaim(for_algorithm: str) -> bool:
        """Stop one idle worker of an algorithm that has nothing queued, to make room.

        Workers stay warm while slots are free; when another algorithm is waiting they
        give way, oldest idle first, never below `minHotWorkers`."""
        nonlocal count, used_cpu
        candidates = [
            w
            for w in workers
            if w.algorithm != for_algorithm
            and not w.busy
            and w.id not in stopped
            and depths.get(w.algorithm, 0) == 0
            and len([x for x in by_algorithm.get(w.algorithm, []) if x.id not in stopped])
            > int(algorithms.get(w.algorithm, {}).get("minHotWorkers") or 0)
        ]
        if not candidates:
            return False
        victim = min(candidates, key=lambda w: w.last_active)
        launch.stop(victim.id, victim.pid)
        rc.client().hdel(rc.WORKERS_KEY, victim.id)
        stopped.append(victim.id)
        count -= 1
        used_cpu -= float(algorithms.get(victim.algorithm, {}).get("cpu", 0.1))
        return True

    for name, descriptor in algorithms.items():
        mine = by_algorithm.get(name, [])
        depth = depths[name]
        hot = int(descriptor.get("minHotWorkers") or 0)
        cap = int(descriptor.get("maxWorkers") or 0) or max_workers
        wanted = min(cap, max(hot, depth + sum(1 for w in mine if w.busy)))
        cpu = float(descriptor.get("cpu", 0.1))
        while len(mine) < wanted:
            fits = count < max_workers and used_cpu + cpu <= cpu_budget + 1e-9
            # Evict warm workers of idle algorithms only for an algorithm that has none.
            while not fits and depth and not mine and reclaim(name):
                fits = count < max_workers and used_cpu + cpu <= cpu_budget + 1e-9
            if not fits:
                break
            handle = launch.start(name)
            register_starting(name, handle.worker_id, handle.pid)
            mine.append(Worker(handle.worker_id, name, handle.pid, False, now, now, now))
            count += 1
            used_cpu += cpu
            started.append(handle.worker_id)
        idle_limit = float(settings.HKUBE_WORKER_IDLE_SECONDS)
        idle = sorted(
            (w for w in mine if not w.busy and now - w.last_active > idle_limit), key=lambda w: w.last_active
        )
        surplus = len(mine) - max(hot, wanted)
        for worker in idle[: max(0, surplus)]:
            launch.stop(worker.id, worker.pid)
            rc.client().hdel(rc.WORKERS_KEY, worker.id)
            stopped.append(worker.id)

    for worker in workers:
        if worker.algorithm not in algorithms:  # deleted algorithm
            launch.stop(worker.id, worker.pid)
            rc.client().hdel(rc.WORKERS_KEY, worker.id)
            stopped.append(worker.id)
    if started or stopped:
        log.info("executor: started %s, stopped %s", started, stopped)
    return {"started": started, "stopped": stopped, "workers": count, "cpu": math.floor(used_cpu * 100) / 100}


def stop_all_workers() -> None:
    """Stop every registered local worker (used when `manage.py up` exits)."""
    launch = launcher()
    for worker in registered_workers():
        launch.stop(worker.id, worker.pid)
    rc.client().delete(rc.WORKERS_KEY)
