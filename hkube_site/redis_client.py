"""The one place that talks to Redis directly (beyond Celery): control messages,
worker registry, in-flight counters, progress reports. Keys are named here."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

CONTROL_CHANNEL = "hkube:control"
WORKERS_KEY = "hkube:workers"  # hash worker_id -> json
STOPPED_PREFIX = "hkube:stopped:"  # key per stopped job, read by workers before each chunk
ACTIVE_PREFIX = "hkube:active:"  # hash per job: node -> items in flight
INFLIGHT_KEY = "hkube:inflight"  # hash worker_id -> the chunk it is running (for crash recovery)
ATTEMPTS_PREFIX = "hkube:attempts:"  # per chunk: how many times a worker died running it
CRASHLOOP_PREFIX = "hkube:crashloop:"  # per chunk: record its items as crashed instead of running
RECONCILE_DEBOUNCE = "hkube:executor:poke"
EXECUTOR_LOCK = "hkube:executor:lock"
PROGRESS_PREFIX = "hkube:progress:"  # hash per job: "<node>:<batchIndex>" -> latest progress report
PROGRESS_TTL_SECONDS = 24 * 3600  # after the hash's last write
ALIVE_PREFIX = "hkube:alive:"  # <algorithm> -> a live worker's id (heartbeat, expires after 10 s)
DEBUG_URL_PREFIX = "hkube:debug:url:"  # <algorithm> -> {"url", "workerId", "since"} while listening
DEBUG_PORT_PREFIX = "hkube:debug:port:"  # <algorithm> -> the port its debug worker listened on last
HOLDINGS_KEY = "hkube:executor:holdings"  # hash worker_id -> json resources held (algorithms/resources.py)
WAITING_KEY = "hkube:executor:waiting"  # hash algorithm -> first time seen with queued work
UNSCHEDULED_KEY = "hkube:unscheduled"  # hash algorithm -> json scheduling warning
GC_LAST_RUN_KEY = "hkube:gc:last-run"  # hash cleaner -> json {name, count, sample, maxAge, timestamp}
# Kubernetes mode (the supervisor, `manage.py k8s_supervise`):
K8S_SUPERVISOR_LOCK = "hkube:k8s:supervisor"  # the token of the one active supervisor
K8S_IMAGE_BLOCKED_KEY = "hkube:k8s:image-blocked"  # hash algorithm -> json {version, message}
K8S_UNSCHEDULED_KEY = "hkube:k8s:unscheduled"  # hash algorithm -> json warning, the scheduler's words
DELIVERIES_PREFIX = "hkube:deliveries:"  # hash per platform worker node name: delivery tag -> 1 while running
# kombu's Redis transport: delivery tag -> when it was delivered; a message still unacked a
# visibility timeout later goes back to its queue (so a running task renews its own).
UNACKED_INDEX_KEY = "unacked_index"
K8S_FATES_KEY = "hkube:k8s:fates"  # hash worker_id -> why its pod ended, for recover_lost_chunk
# Stream pipelines (algorithms/runtime/streams): one Redis stream per job and edge.
STREAM_PREFIX = "hkube:stream:"

log = logging.getLogger(__name__)


# A Redis restart (seconds) is ridden out, not raised into a half-run task: each command is
# tried again with a backoff (0.05 s doubling to 1 s) for about 40 s in all.
RETRY_ATTEMPTS = 45
RETRY_BACKOFF = (1.0, 0.05)  # (cap, base) seconds


@lru_cache(maxsize=4)
def client(**options: Any) -> redis.Redis:
    """A client of the platform's Redis, one per process and ``options``, which go to
    ``redis.Redis.from_url`` (the stream transport's shared ``command_packer``: the same
    object each time, so its client is cached too)."""
    retry = Retry(
        ExponentialBackoff(*RETRY_BACKOFF), RETRY_ATTEMPTS, supported_errors=(ConnectionError, TimeoutError)
    )
    return redis.Redis.from_url(settings.REDIS_URL, health_check_interval=30, retry=retry, **options)


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


def begin_chunk(
    job_id: str, node_name: str, count: int, worker_id: str = "", inflight: dict[str, Any] | None = None
) -> bool:
    """Count a chunk's items as in flight and, with `inflight`, note the message as this
    worker's in-flight work; returns whether the job was stopped (one round trip)."""
    pipe = client().pipeline(transaction=False)
    pipe.exists(STOPPED_PREFIX + job_id)
    pipe.hincrby(ACTIVE_PREFIX + job_id, node_name, count)
    if inflight is not None:
        pipe.hset(INFLIGHT_KEY, worker_id, json.dumps(inflight))
    stopped = pipe.execute()[0]
    return bool(stopped)


def end_chunk(job_id: str, node_name: str, count: int, worker_id: str = "") -> None:
    """A chunk's items are recorded: no longer in flight, and (with `worker_id`) the message
    is no longer this worker's in-flight work (one round trip)."""
    pipe = client().pipeline(transaction=False)
    pipe.hincrby(ACTIVE_PREFIX + job_id, node_name, -count)
    if worker_id:
        pipe.hdel(INFLIGHT_KEY, worker_id)
    pipe.execute()


def chunk_key(job_id: str, node_name: str, first_index: int) -> str:
    return f"{job_id}:{node_name}:{first_index}"


def crashloop_message(key: str) -> str | None:
    raw = client().get(CRASHLOOP_PREFIX + key)
    return raw.decode() if isinstance(raw, bytes) else raw


def set_worker_fate(worker_id: str, message: str) -> None:
    client().hset(K8S_FATES_KEY, worker_id, message)


def pop_worker_fate(worker_id: str) -> str | None:
    """Why a worker's pod ended, as the Kubernetes supervisor saw it (read once)."""
    pipe = client().pipeline()
    pipe.hget(K8S_FATES_KEY, worker_id)
    pipe.hdel(K8S_FATES_KEY, worker_id)
    raw, _ = pipe.execute()
    return raw.decode() if isinstance(raw, bytes) else raw


def block_image(algorithm_name: str, version: str, message: str) -> None:
    """No new workers for `algorithm_name` while its version is `version` (its image cannot be pulled)."""
    client().hset(K8S_IMAGE_BLOCKED_KEY, algorithm_name, json.dumps({"version": version, "message": message}))


def unblock_image(algorithm_name: str) -> None:
    client().hdel(K8S_IMAGE_BLOCKED_KEY, algorithm_name)


def blocked_images() -> dict[str, dict[str, str]]:
    """Algorithm -> {version, message} of the versions whose image could not be pulled."""
    raw = client().hgetall(K8S_IMAGE_BLOCKED_KEY)
    return {(k.decode() if isinstance(k, bytes) else str(k)): json.loads(v) for k, v in raw.items()}


def claim_items(job_id: str, node_name: str, batch_indices: list[int]) -> list[int]:
    """The items not claimed before (each streamed item is sent exactly once)."""
    if not batch_indices:
        return []
    key = f"hkube:sent:{job_id}:{node_name}"
    pipe = client().pipeline()
    for index in batch_indices:
        pipe.sadd(key, index)
    pipe.expire(key, 7 * 24 * 3600)
    added = pipe.execute()[:-1]
    return [index for index, new in zip(batch_indices, added, strict=True) if new]


def add_active(job_id: str, node_name: str, count: int) -> None:
    client().hincrby(ACTIVE_PREFIX + job_id, node_name, count)


def active_counts(job_id: str) -> dict[str, int]:
    raw = client().hgetall(ACTIVE_PREFIX + job_id)
    return {(k.decode() if isinstance(k, bytes) else str(k)): max(0, int(v)) for k, v in raw.items()}


def clear_active(job_id: str) -> None:
    client().delete(ACTIVE_PREFIX + job_id)


# --- progress reports (written by algorithm workers, read by the graph) ----------------------


def progress_field(node_name: str, batch_index: int) -> str:
    return f"{node_name}:{batch_index}"


def write_progress(job_id: str, field: str, report: dict[str, Any]) -> None:
    """Keep one task's latest progress report (one pipelined round trip; raises RedisError)."""
    pipe = client().pipeline(transaction=False)
    pipe.hset(PROGRESS_PREFIX + job_id, field, json.dumps(report))
    pipe.expire(PROGRESS_PREFIX + job_id, PROGRESS_TTL_SECONDS)
    pipe.execute()


def read_progress(job_id: str) -> dict[str, dict[str, Any]]:
    """Every task's latest progress report of a job, by `progress_field`."""
    raw = client().hgetall(PROGRESS_PREFIX + job_id)
    found: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        field = name.decode() if isinstance(name, bytes) else str(name)
        try:
            found[field] = json.loads(value)
        except ValueError:
            log.warning("job %s: unreadable progress record for %s", job_id, field)
    return found


def alive_key(algorithm_name: str) -> str:
    """Set by a worker of this algorithm every heartbeat: some worker is alive."""
    return ALIVE_PREFIX + algorithm_name


def note_delivery(node: str, tag: str) -> None:
    """A platform worker (`hkube_site/redelivery.py`) started running the message `tag`."""
    client().hset(DELIVERIES_PREFIX + node, tag, 1)


def forget_delivery(node: str, tag: str) -> None:
    client().hdel(DELIVERIES_PREFIX + node, tag)


def renew_delivery(pipe: Any, tag: str) -> None:
    """Queue on ``pipe``: the message ``tag`` is still being worked on, so kombu does not give
    it to another worker after the visibility timeout (only while it is unacked: ``xx``)."""
    pipe.zadd(UNACKED_INDEX_KEY, {tag: time.time()}, xx=True)


def take_deliveries(node: str) -> list[str]:
    """The tags a worker named `node` was running when it stopped, forgotten as they are read."""
    pipe = client().pipeline()
    pipe.hkeys(DELIVERIES_PREFIX + node)
    pipe.delete(DELIVERIES_PREFIX + node)
    tags = pipe.execute()[0]
    return [t.decode() if isinstance(t, bytes) else str(t) for t in tags]


# --- stream pipelines' transport (algorithms/runtime/streams/transport.py) -------------------


@dataclass(frozen=True)
class StreamKeys:
    """Every Redis key of one stream job's transport (no settings read: plain Python may use it).

    ``edge(source, target)``: the Redis stream of one edge (its consumer group is named after the
    target node); ``seen(target)``: the ids of the messages ``target`` has processed (the
    receiver's de-duplication); ``stats``: the per-edge counters, a hash of
    ``"<source>><target>:<counter>"`` -> number; ``edges``: the set of every edge stream's key,
    for clean-up.
    """

    job_id: str

    @property
    def prefix(self) -> str:
        return f"{STREAM_PREFIX}{self.job_id}:"

    def edge(self, source: str, target: str) -> str:
        return f"{self.prefix}edge:{source}>{target}"

    def seen(self, target: str) -> str:
        return f"{self.prefix}seen:{target}"

    @property
    def stats(self) -> str:
        return f"{self.prefix}stats"

    @property
    def edges(self) -> str:
        return f"{self.prefix}edges"

    @property
    def scale(self) -> str:
        """The autoscaler's state: a hash of ``reading`` (the last counters read, JSON),
        ``replicas:<node>`` (the batch indexes running, JSON) and ``down:<node>`` (when the
        node was last scaled down)."""
        return f"{self.prefix}scale"

    @property
    def metrics(self) -> str:
        """The per-edge figures of the last autoscaler tick (JSON), for status and graph."""
        return f"{self.prefix}metrics"


def stream_keys(job_id: str) -> StreamKeys:
    return StreamKeys(job_id)


def stream_metrics(job_id: str) -> dict[str, dict[str, float]]:
    """Per edge (``"source>target"``), the figures the autoscaler last wrote (empty before)."""
    raw = client().get(stream_keys(job_id).metrics)
    return dict(json.loads(raw)) if raw else {}


def delete_stream_keys(job_id: str) -> int:
    """Remove every key of a stream job's transport (its streams, sets and counters); returns
    how many were removed. For jobs long ended: a job that just ended may still be draining."""
    keys = list(client().scan_iter(match=f"{stream_keys(job_id).prefix}*", count=500))
    return int(client().delete(*keys)) if keys else 0
