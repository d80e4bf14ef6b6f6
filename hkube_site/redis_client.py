"""The one place that talks to Redis directly (beyond Celery): control messages,
worker registry, in-flight counters. Keys are named here."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings

CONTROL_CHANNEL = "hkube:control"
WORKERS_KEY = "hkube:workers"  # hash worker_id -> json
STOPPED_PREFIX = "hkube:stopped:"  # key per stopped job, read by workers before each chunk
ACTIVE_PREFIX = "hkube:active:"  # hash per job: node -> items in flight
RECONCILE_DEBOUNCE = "hkube:executor:poke"
EXECUTOR_LOCK = "hkube:executor:lock"


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, health_check_interval=30)


def publish(message: dict[str, Any]) -> None:
    client().publish(CONTROL_CHANNEL, json.dumps(message))


def mark_job_stopped(job_id: str) -> None:
    pipe = client().pipeline()
    pipe.set(STOPPED_PREFIX + job_id, "1", ex=7 * 24 * 3600)
    pipe.delete(ACTIVE_PREFIX + job_id)
    pipe.execute()
    publish({"stop": job_id})


def is_job_stopped(job_id: str) -> bool:
    return bool(client().exists(STOPPED_PREFIX + job_id))


def begin_chunk(job_id: str, node_name: str, count: int) -> bool:
    """Count a chunk's items as in flight; returns whether the job was stopped (one round trip)."""
    pipe = client().pipeline()
    pipe.exists(STOPPED_PREFIX + job_id)
    pipe.hincrby(ACTIVE_PREFIX + job_id, node_name, count)
    stopped, _ = pipe.execute()
    return bool(stopped)


def add_active(job_id: str, node_name: str, count: int) -> None:
    client().hincrby(ACTIVE_PREFIX + job_id, node_name, count)


def active_counts(job_id: str) -> dict[str, int]:
    raw = client().hgetall(ACTIVE_PREFIX + job_id)
    return {(k.decode() if isinstance(k, bytes) else str(k)): max(0, int(v)) for k, v in raw.items()}


def clear_active(job_id: str) -> None:
    client().delete(ACTIVE_PREFIX + job_id)
