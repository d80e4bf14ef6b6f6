"""The executor against a real Redis and database, with the launcher faked at its seam."""

from __future__ import annotations

import pytest
import redis

from algorithms import executor
from tests.algorithms.fakes import AddAlgorithm, AddWorker, Enqueue, FakeLauncher


@pytest.mark.django_db
def test_queued_work_starts_workers_up_to_the_slots(
    launcher: FakeLauncher, real_redis: redis.Redis, settings: object, algorithm: AddAlgorithm, queue: Enqueue
) -> None:
    settings.HKUBE_MAX_WORKERS = 3  # type: ignore[attr-defined]
    algorithm("multiply")
    queue("multiply", 10)
    executor.reconcile()
    assert launcher.started == ["multiply"] * 3


@pytest.mark.django_db
def test_idle_workers_give_way_to_an_algorithm_that_has_none(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    settings: object,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    settings.HKUBE_MAX_WORKERS = 2  # type: ignore[attr-defined]
    for name in ("range", "multiply", "reduce"):
        algorithm(name)
    worker("range-a", "range", idle_for=5)
    worker("multiply-a", "multiply", idle_for=1)
    queue("reduce", 1)
    executor.reconcile()
    assert launcher.stopped == ["range-a"]  # the one idle the longest
    assert launcher.started == ["reduce"]


@pytest.mark.django_db
def test_busy_or_hot_workers_are_not_evicted(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    settings: object,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    settings.HKUBE_MAX_WORKERS = 2  # type: ignore[attr-defined]
    algorithm("range", minHotWorkers=1)
    algorithm("multiply")
    algorithm("reduce")
    worker("range-a", "range", idle_for=50)
    worker("multiply-a", "multiply", busy=True)
    queue("reduce", 1)
    executor.reconcile()
    assert launcher.stopped == []
    assert launcher.started == []


@pytest.mark.django_db
def test_idle_workers_stop_after_the_idle_time_but_hot_ones_stay(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    settings: object,
    algorithm: AddAlgorithm,
    worker: AddWorker,
) -> None:
    settings.HKUBE_WORKER_IDLE_SECONDS = 10  # type: ignore[attr-defined]
    algorithm("cold")
    algorithm("hot", minHotWorkers=1)
    worker("cold-a", "cold", idle_for=60)
    worker("hot-a", "hot", idle_for=60)
    executor.reconcile()
    assert launcher.stopped == ["cold-a"]


@pytest.mark.django_db
def test_a_lost_workers_algorithm_process_is_named_for_killing(real_redis: redis.Redis) -> None:
    # A worker killed hard never closed its algorithm process (a process group of its own):
    # forget_lost names it, and the local executor kills it.
    import json
    import time

    from algorithms.scheduling import act, observe
    from hkube_site import redis_client as rc

    record = {"id": "gone-1", "algorithm": "multiply", "pid": 4242, "algorithmPid": 4343, "busy": True,
              "lastActive": 0, "seen": time.time() - 600, "started": time.time() - 900}  # fmt: skip
    real_redis.hset(rc.WORKERS_KEY, "gone-1", json.dumps(record))
    lost = [w for w in observe.registered_workers() if w.id == "gone-1"]

    assert act.forget_lost(lost) == [4343]
    assert not real_redis.hexists(rc.WORKERS_KEY, "gone-1")
