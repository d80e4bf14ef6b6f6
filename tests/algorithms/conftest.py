"""The executor's fixtures: the launcher faked at its seam, algorithms in the database, and
workers and queued messages in a real Redis."""

from __future__ import annotations

import json
import time

import pytest
import redis

from algorithms import executor
from algorithms.models import Algorithm
from hkube_site import redis_client as rc
from tests.algorithms.fakes import AddAlgorithm, AddWorker, Enqueue, FakeLauncher


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch, real_redis: redis.Redis) -> FakeLauncher:
    fake = FakeLauncher()
    monkeypatch.setattr(executor, "launcher", lambda: fake)
    return fake


@pytest.fixture
def algorithm() -> AddAlgorithm:
    """Store an algorithm (cpu 0.1 unless given)."""

    def add(name: str, **descriptor: object) -> None:
        Algorithm.objects.create(name=name, descriptor={"name": name, "cpu": 0.1, **descriptor}, version="v1")

    return add


@pytest.fixture
def worker(real_redis: redis.Redis) -> AddWorker:
    """Register a worker as its heartbeat would, started 100 s ago."""

    def add(worker_id: str, algorithm_name: str, *, busy: bool = False, idle_for: float = 0) -> None:
        now = time.time()
        record = {"id": worker_id, "algorithm": algorithm_name, "pid": 1, "busy": busy,
                  "lastActive": now - idle_for, "seen": now, "started": now - 100}  # fmt: skip
        real_redis.hset(rc.WORKERS_KEY, worker_id, json.dumps(record))

    return add


@pytest.fixture
def queue(real_redis: redis.Redis) -> Enqueue:
    """Queue messages for an algorithm at an HKube priority (kombu's list for that step)."""

    def add(algorithm_name: str, messages: int, priority: int = 3) -> None:
        key = f"algorithm.{algorithm_name}" + (f":{priority}" if priority else "")
        for _ in range(messages):
            real_redis.lpush(key, b"{}")

    return add
