"""What the supervisor's outcomes do to jobs, workers and the executor (`algorithms/k8s_outcomes.py`),
and the lock that keeps one supervisor active. Real Redis and database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from django.test import Client

from algorithms import resources
from algorithms.k8s_lock import RedisLock
from algorithms.k8s_outcomes import ClusterOutcomes, ExecutorBusy
from algorithms.models import Algorithm
from algorithms.resources import Budget, Resources
from algorithms.runtime.limits import OOM_MESSAGE
from algorithms.scheduling import act
from algorithms.scheduling.decide import decide
from algorithms.scheduling.observe import image_blocked
from algorithms.scheduling.snapshot import AlgorithmState, Config, Snapshot
from hkube_site import redis_client as rc
from k8s.outcomes import Kind, Outcome, WorkerPod
from pipelines.models import Job, JobNode, JobStatus, NodeStatus

IMAGE = "Container - algorunner: not found. please check that your image exists and valid"
pytestmark = pytest.mark.django_db


def worker_pod(worker_id: str = "green-aaaaa", version: str = "v1") -> WorkerPod:
    return WorkerPod(f"{worker_id}-pod", "uid-1", worker_id, "green", version, worker_id)


def waiting_job(job_id: str, algorithm_name: str = "green") -> Job:
    pipeline = {"name": "p", "nodes": [{"nodeName": "n1", "algorithmName": algorithm_name, "input": []}]}
    job = Job.objects.create(
        job_id=job_id, pipeline_name="p", status=JobStatus.ACTIVE, pipeline=pipeline,
        user_pipeline=pipeline, start_time=1_000, status_timestamp=1_000,
    )  # fmt: skip
    JobNode.objects.create(job=job, node_name="n1", algorithm_name=algorithm_name, status=NodeStatus.ACTIVE)
    return job


def register(client: redis.Redis, worker_id: str, algorithm_name: str = "green") -> None:
    now = time.time()
    record = {"id": worker_id, "algorithm": algorithm_name, "pid": 0, "busy": True, "lastActive": now,
              "seen": now, "started": now}  # fmt: skip
    client.hset(rc.WORKERS_KEY, worker_id, json.dumps(record))


@pytest.fixture
def green() -> Algorithm:
    return Algorithm.objects.create(name="green", descriptor={"name": "green", "cpu": 0.5}, version="v1")


class FakeBroker:
    """kombu's restore of an unacked message, at its seam: the tags it was asked to put back."""

    def __init__(self) -> None:
        self.restored: list[str] = []
        qos = type("Qos", (), {"restore_by_tag": lambda _self, tag: self.restored.append(tag)})()
        self.default_channel = type("Channel", (), {"qos": qos})()

    @contextmanager
    def connection_for_write(self) -> Iterator[FakeBroker]:
        yield self


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    fake = FakeBroker()
    monkeypatch.setattr(act, "app", fake)
    return fake


# --- image pull failures ------------------------------------------------------------------------------


def test_an_image_pull_failure_fails_waiting_jobs_and_blocks_that_version(
    real_redis: redis.Redis, green: Algorithm, broker: FakeBroker
) -> None:
    job = waiting_job("job-bad-image")
    register(real_redis, "green-aaaaa")
    ClusterOutcomes().image_pull_failed(worker_pod(), IMAGE)

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == f"node n1 failed: {IMAGE}"
    assert not real_redis.hexists(rc.WORKERS_KEY, "green-aaaaa")
    assert image_blocked() == frozenset({"green"})


def test_a_job_submitted_while_the_version_is_blocked_fails_too(
    real_redis: redis.Redis, green: Algorithm, broker: FakeBroker
) -> None:
    outcomes = ClusterOutcomes()
    outcomes.image_pull_failed(worker_pod(), IMAGE)
    later = waiting_job("job-later")
    outcomes.periodic()
    later.refresh_from_db()
    assert later.status == JobStatus.FAILED
    assert IMAGE in (later.error or "")


def test_a_new_version_lifts_the_block(real_redis: redis.Redis, green: Algorithm, broker: FakeBroker) -> None:
    outcomes = ClusterOutcomes()
    outcomes.image_pull_failed(worker_pod(), IMAGE)
    Algorithm.objects.filter(name="green").update(version="v2")
    assert image_blocked() == frozenset()  # the executor already ignores a stale mark
    job = waiting_job("job-after-fix")
    outcomes.periodic()
    assert rc.blocked_images() == {}
    job.refresh_from_db()
    assert job.status == JobStatus.ACTIVE


def test_the_executor_starts_no_worker_for_a_blocked_algorithm() -> None:
    config = Config(max_workers=10, idle_seconds=60)

    def plan(blocked: bool) -> list[str]:
        steps = (0, 0, 0, 2, 0, 0, 0, 0, 0, 0)
        state = AlgorithmState("green", Resources(0.5, 256, 0), steps=steps, image_blocked=blocked)
        snapshot = Snapshot(10.0, (), {"green": state}, {}, Budget(cpu=4, mem=8192, gpus=()))
        return [start.algorithm for start in decide(snapshot, config).start]

    assert plan(False) == ["green", "green"]
    assert plan(True) == []


# --- crashes ----------------------------------------------------------------------------------------------


def inflight(client: redis.Redis, worker_id: str, policy: str = "OnCrash", limit: int = 0) -> None:
    record = {"deliveryTag": "tag-1", "chunk": "job-1:n1:0", "nodeName": "n1",
              "retry": {"policy": policy, "limit": limit}}  # fmt: skip
    client.hset(rc.INFLIGHT_KEY, worker_id, json.dumps(record))


def test_an_oom_kill_puts_the_chunk_back_and_a_final_crash_says_out_of_memory(
    real_redis: redis.Redis, green: Algorithm, broker: FakeBroker
) -> None:
    register(real_redis, "green-aaaaa")
    inflight(real_redis, "green-aaaaa", limit=0)  # no retry left: the next delivery records it crashed
    ClusterOutcomes().crashed(
        worker_pod(), Outcome(Kind.OOM, "container algorunner was OOMKilled", "algorunner")
    )

    assert broker.restored == ["tag-1"]
    assert not real_redis.hexists(rc.WORKERS_KEY, "green-aaaaa")
    assert not real_redis.hexists(rc.INFLIGHT_KEY, "green-aaaaa")
    message = rc.crashloop_message("job-1:n1:0")
    assert message == f"{OOM_MESSAGE} (node n1 is in CrashLoopBackOff, attempts: 0/0)"
    assert not real_redis.hexists(rc.K8S_FATES_KEY, "green-aaaaa")


def test_a_crash_with_retries_left_runs_the_chunk_again(
    real_redis: redis.Redis, green: Algorithm, broker: FakeBroker
) -> None:
    register(real_redis, "green-aaaaa")
    inflight(real_redis, "green-aaaaa", limit=3)
    ClusterOutcomes().crashed(
        worker_pod(), Outcome(Kind.CRASH, "pod green-aaaaa-pod: Evicted: low on memory")
    )
    assert broker.restored == ["tag-1"]
    assert rc.crashloop_message("job-1:n1:0") is None


def test_with_policy_never_the_crash_message_is_the_pods_story(
    real_redis: redis.Redis, green: Algorithm, broker: FakeBroker
) -> None:
    inflight(real_redis, "green-aaaaa", policy="Never", limit=3)
    ClusterOutcomes().crashed(
        worker_pod(), Outcome(Kind.CRASH, "pod x was deleted before its worker finished")
    )
    assert rc.crashloop_message("job-1:n1:0") == "pod x was deleted before its worker finished"


def test_a_crash_waits_for_a_reconciling_executor(
    real_redis: redis.Redis, green: Algorithm, broker: FakeBroker
) -> None:
    register(real_redis, "green-aaaaa")
    inflight(real_redis, "green-aaaaa")
    real_redis.set(rc.EXECUTOR_LOCK, "1")
    with pytest.raises(ExecutorBusy):
        ClusterOutcomes().crashed(worker_pod(), Outcome(Kind.OOM, "oom"))
    assert broker.restored == []
    assert real_redis.hexists(rc.WORKERS_KEY, "green-aaaaa")
    assert real_redis.get(rc.EXECUTOR_LOCK) == b"1"  # not ours to delete


# --- unscheduled pods and adoption ----------------------------------------------------------------------


def test_the_schedulers_words_show_as_failed_scheduling_after_the_delay(
    real_redis: redis.Redis, green: Algorithm, client: Client, settings: Any
) -> None:
    settings.HKUBE_SCHEDULING_WARNING_SECONDS = 60
    job = waiting_job("job-pending")
    text = "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    outcomes = ClusterOutcomes()
    outcomes.unscheduled({"green": (text, time.time() - 5)})
    assert resources.unscheduled_reasons() == {"green": text}  # store/algorithms: at once
    assert client.get(f"/api/v1/exec/status/{job.job_id}").json()["data"].get("states") != {
        "failedScheduling": 1
    }

    outcomes.unscheduled({"green": (text, time.time() - 61)})
    resources.save_unscheduled({})  # an executor tick with nothing of its own keeps the cluster's
    status = client.get(f"/api/v1/exec/status/{job.job_id}").json()
    assert status["data"]["states"] == {"failedScheduling": 1}
    listed = client.get("/api/v1/store/algorithms/green").json()
    assert listed["unscheduledReason"] == text

    outcomes.unscheduled({})
    assert resources.unscheduled() == {}


def test_an_adopted_job_is_registered_as_a_starting_worker(real_redis: redis.Redis, green: Algorithm) -> None:
    outcomes = ClusterOutcomes()
    assert outcomes.algorithm_exists("green") and not outcomes.algorithm_exists("gone")
    outcomes.adopt(worker_pod("green-bbbbb"))
    record = json.loads(real_redis.hget(rc.WORKERS_KEY, "green-bbbbb") or b"{}")
    assert (record["algorithm"], record["starting"]) == ("green", True)
    assert outcomes.known_workers() == {"green-bbbbb"}


# --- one active supervisor ---------------------------------------------------------------------------


def test_one_lock_holder_at_a_time_and_a_lost_lease_is_noticed(real_redis: redis.Redis) -> None:
    first = RedisLock(real_redis, rc.K8S_SUPERVISOR_LOCK, lease_seconds=0.3)
    second = RedisLock(real_redis, rc.K8S_SUPERVISOR_LOCK, lease_seconds=0.3)
    assert first.acquire()
    assert not second.acquire()
    time.sleep(0.15)
    assert first.renew()  # renewed: still held past its first lease
    time.sleep(0.2)
    assert not second.acquire()
    second.release()  # not its lock: nothing happens
    assert real_redis.get(rc.K8S_SUPERVISOR_LOCK) == first.token.encode()

    real_redis.delete(rc.K8S_SUPERVISOR_LOCK)  # the lease ran out (a long pause) ...
    assert second.acquire()  # ... and the waiting instance took over
    time.sleep(0.15)
    assert not first.renew()  # the first one notices and stops
    first.release()
    assert real_redis.get(rc.K8S_SUPERVISOR_LOCK) == second.token.encode()
