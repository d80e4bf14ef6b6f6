"""What the executor sees: the worker registry, queue depths, the algorithms and the budget.

Reads only, except the "waiting since" document: the first tick that sees an algorithm's
queued work stamps it (`resources.track_waiting`), so later ticks rank it by how long it
has waited.
"""

from __future__ import annotations

import json

from algorithms import debug as debugging
from algorithms import resources
from algorithms.launcher import Launcher
from algorithms.models import Algorithm
from algorithms.scheduling.snapshot import BATCH, STATEFUL, STATELESS, AlgorithmState, Snapshot, Worker
from hkube_site import redis_client as rc
from hkube_site.queues import algorithm_queue
from pipelines import services as pipeline_services


def priority_lists(queue: str) -> list[str]:
    """kombu's Redis lists of one queue, served in this order: step 0 is the bare name."""
    return [queue] + [f"{queue}:{step}" for step in range(1, 10)]


def queue_steps(algorithm_name: str) -> list[int]:
    """Messages waiting in an algorithm queue per kombu priority step (HKube priority p is
    step p), in one round trip."""
    pipe = rc.client().pipeline()
    for key in priority_lists(algorithm_queue(algorithm_name)):
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
                debug_for=debugging.algorithm_of(data["algorithm"]),
            )
        )
    return workers


def _in_flight() -> set[str]:
    return {k.decode() if isinstance(k, bytes) else str(k) for k in rc.client().hkeys(rc.INFLIGHT_KEY)}


def image_blocked() -> frozenset[str]:
    """Algorithms whose current version's image the Kubernetes supervisor could not pull."""
    marks = rc.blocked_images()
    if not marks:
        return frozenset()
    current = dict(Algorithm.objects.filter(name__in=marks).values_list("name", "version"))
    return frozenset(name for name, mark in marks.items() if current.get(name) == mark.get("version"))


def observe(launch: Launcher, now: float) -> Snapshot:
    workers = registered_workers()
    running = _in_flight()
    for worker in workers:
        worker.alive = launch.alive(worker.id, worker.pid)
        worker.in_flight = worker.id in running
    descriptors = {a.name: a.descriptor for a in Algorithm.objects.all()}
    steps = {name: tuple(queue_steps(name)) for name in descriptors}
    since = resources.track_waiting({name for name, counts in steps.items() if sum(counts)}, now)
    debug_queued = debugging.queued(list(descriptors)) if descriptors else {}
    blocked = image_blocked()
    streams = pipeline_services.stream_algorithms()
    classes = {"stateful": STATEFUL, "stateless": STATELESS}
    algorithms = {
        name: AlgorithmState(
            name=name,
            request=resources.request_of(descriptor),
            min_hot_workers=int(descriptor.get("minHotWorkers") or 0),
            max_workers=int(descriptor.get("maxWorkers") or 0),
            steps=steps[name],
            waiting_since=since.get(name),
            debug_queued=debug_queued.get(name, 0),
            image_blocked=name in blocked,
            work_class=classes.get(streams.get(name, ""), BATCH),
        )
        for name, descriptor in descriptors.items()
    }
    return Snapshot(now, tuple(workers), algorithms, resources.holdings(), resources.budget())
