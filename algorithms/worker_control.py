"""Stopping an algorithm's workers on request (`kubernetes/algorithms/jobs|pods/{name}`):
HKube deletes the algorithm's worker pods or Jobs; here every registered worker of the
algorithm is stopped through the launcher (a Job in Kubernetes mode, a process otherwise).
Work still queued for the algorithm makes the executor start fresh workers, which is how
`hkubectl sync` gets a running algorithm to pick up new code."""

from __future__ import annotations

import time

from algorithms import executor, resources
from algorithms.scheduling.observe import registered_workers
from hkube_site import redis_client as rc

LOCK_WAIT_SECONDS = 5.0


def stop_algorithm_workers(algorithm_name: str) -> list[str]:
    """Stop the algorithm's workers (debug workers included); returns their ids. Done under
    the executor's lock when it can be had within a few seconds, so a tick in progress
    does not count a worker that is being stopped."""
    client = rc.client()
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    locked = False
    while not locked and time.monotonic() < deadline:
        locked = bool(client.set(rc.EXECUTOR_LOCK, "1", nx=True, px=20_000))
        if not locked:
            time.sleep(0.1)
    try:
        launch = executor.launcher()
        stopped = []
        for worker in registered_workers():
            if worker.algorithm != algorithm_name and worker.debug_for != algorithm_name:
                continue
            launch.stop(worker.id, worker.pid)
            client.hdel(rc.WORKERS_KEY, worker.id)
            resources.release(worker.id)
            stopped.append(worker.id)
        return sorted(stopped)
    finally:
        if locked:
            client.delete(rc.EXECUTOR_LOCK)
