"""The executor against a real Redis and database, with the launcher faked at its seam."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import pytest
import redis

from algorithms import executor
from algorithms.launcher import Handle
from algorithms.models import Algorithm
from hkube_site import redis_client as rc


@dataclass
class FakeLauncher:
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def start(self, algorithm_name: str) -> Handle:
        self.started.append(algorithm_name)
        return Handle(f"{algorithm_name}-new{len(self.started)}", 100000 + len(self.started))

    def stop(self, worker_id: str, pid: int) -> None:
        self.stopped.append(worker_id)

    def alive(self, worker_id: str, pid: int) -> bool:
        return True


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch, real_redis: redis.Redis) -> FakeLauncher:
    fake = FakeLauncher()
    monkeypatch.setattr(executor, "launcher", lambda: fake)
    return fake


def algorithm(name: str, **descriptor: object) -> None:
    Algorithm.objects.create(name=name, descriptor={"name": name, "cpu": 0.1, **descriptor}, version="v1")


def worker(
    client: redis.Redis, worker_id: str, algorithm_name: str, *, busy: bool = False, idle_for: float = 0
) -> None:
    now = time.time()
    record = {"id": worker_id, "algorithm": algorithm_name, "pid": 1, "busy": busy,
              "lastActive": now - idle_for, "seen": now, "started": now - 100}  # fmt: skip
    client.hset(rc.WORKERS_KEY, worker_id, json.dumps(record))


def queue(client: redis.Redis, algorithm_name: str, messages: int, priority: int = 3) -> None:
    for _ in range(messages):
        client.lpush(f"algorithm.{algorithm_name}:{priority}", b"{}")


@pytest.mark.django_db
def test_queued_work_starts_workers_up_to_the_slots(
    launcher: FakeLauncher, real_redis: redis.Redis, settings: object
) -> None:
    settings.HKUBE_MAX_WORKERS = 3  # type: ignore[attr-defined]
    algorithm("multiply")
    queue(real_redis, "multiply", 10)
    executor.reconcile()
    assert launcher.started == ["multiply"] * 3


@pytest.mark.django_db
def test_idle_workers_give_way_to_an_algorithm_that_has_none(
    launcher: FakeLauncher, real_redis: redis.Redis, settings: object
) -> None:
    settings.HKUBE_MAX_WORKERS = 2  # type: ignore[attr-defined]
    for name in ("range", "multiply", "reduce"):
        algorithm(name)
    worker(real_redis, "range-a", "range", idle_for=5)
    worker(real_redis, "multiply-a", "multiply", idle_for=1)
    queue(real_redis, "reduce", 1)
    executor.reconcile()
    assert launcher.stopped == ["range-a"]  # the one idle the longest
    assert launcher.started == ["reduce"]


@pytest.mark.django_db
def test_busy_or_hot_workers_are_not_evicted(
    launcher: FakeLauncher, real_redis: redis.Redis, settings: object
) -> None:
    settings.HKUBE_MAX_WORKERS = 2  # type: ignore[attr-defined]
    algorithm("range", minHotWorkers=1)
    algorithm("multiply")
    algorithm("reduce")
    worker(real_redis, "range-a", "range", idle_for=50)
    worker(real_redis, "multiply-a", "multiply", busy=True)
    queue(real_redis, "reduce", 1)
    executor.reconcile()
    assert launcher.stopped == []
    assert launcher.started == []


@pytest.mark.django_db
def test_idle_workers_stop_after_the_idle_time_but_hot_ones_stay(
    launcher: FakeLauncher, real_redis: redis.Redis, settings: object
) -> None:
    settings.HKUBE_WORKER_IDLE_SECONDS = 10  # type: ignore[attr-defined]
    algorithm("cold")
    algorithm("hot", minHotWorkers=1)
    worker(real_redis, "cold-a", "cold", idle_for=60)
    worker(real_redis, "hot-a", "hot", idle_for=60)
    executor.reconcile()
    assert launcher.stopped == ["cold-a"]
