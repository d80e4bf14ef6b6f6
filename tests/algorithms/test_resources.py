"""Resource-aware workers: the executor fits cpu/mem/gpu requests into the budget, serves
algorithms by priority, reports what it cannot place, and gives GPU workers their own
devices. Real Redis and database; the launcher is faked at its seam."""

from __future__ import annotations

import base64
import json
import time

import msgpack
import pytest
import redis
from django.test import Client

from algorithms import executor, resources
from hkube_site import redis_client as rc
from pipelines.models import Job, JobNode, JobStatus, NodeStatus
from tests.algorithms.fakes import AddAlgorithm, AddWorker, Enqueue, FakeLauncher


@pytest.fixture
def launcher(launcher: FakeLauncher, monkeypatch: pytest.MonkeyPatch, settings: object) -> FakeLauncher:
    """A small machine: 2 cores, 8Gi, 10 worker slots, no GPUs unless a test names them."""
    settings.HKUBE_MAX_WORKERS = 10  # type: ignore[attr-defined]
    settings.HKUBE_CPU_BUDGET = 2  # type: ignore[attr-defined]
    settings.HKUBE_MEM_BUDGET = "8Gi"  # type: ignore[attr-defined]
    settings.HKUBE_GPU_BUDGET = -1  # type: ignore[attr-defined]
    settings.HKUBE_GPUS = []  # type: ignore[attr-defined]
    settings.HKUBE_SCHEDULING_WARNING_SECONDS = 0  # type: ignore[attr-defined]
    monkeypatch.setattr(resources, "machine_gpus", lambda: ())  # tests name their GPUs
    return launcher


@pytest.fixture
def algorithm(algorithm: AddAlgorithm) -> AddAlgorithm:
    """Algorithms here ask for 256Mi unless they say otherwise."""

    def add(name: str, **descriptor: object) -> None:
        algorithm(name, **{"mem": "256Mi", **descriptor})

    return add


def kombu_message(job_id: str) -> bytes:
    """A `run_items` message as kombu's Redis transport stores it."""
    body = msgpack.packb([[{"jobId": job_id, "nodeName": "big"}, [0]], {}, {}])
    return json.dumps({
        "body": base64.b64encode(body).decode(),
        "content-encoding": "binary",
        "content-type": "application/x-msgpack",
        "headers": {"task": "algorithms.tasks.run_items", "id": "x"},
        "properties": {"body_encoding": "base64", "priority": 3, "delivery_tag": "t"},
    }).encode()  # fmt: skip


def waiting_job(job_id: str, algorithm_name: str) -> Job:
    pipeline = {"name": "p", "nodes": [{"nodeName": "n1", "algorithmName": algorithm_name, "input": []}]}
    job = Job.objects.create(
        job_id=job_id, pipeline_name="p", status=JobStatus.ACTIVE, pipeline=pipeline,
        user_pipeline=pipeline, start_time=1_000, status_timestamp=1_000,
    )  # fmt: skip
    JobNode.objects.create(job=job, node_name="n1", algorithm_name=algorithm_name, status=NodeStatus.ACTIVE)
    return job


# --- requests and budgets ---------------------------------------------------------------------------


def test_a_request_is_cpu_mem_plus_reserved_memory_and_whole_gpus() -> None:
    request = resources.request_of({"cpu": 1.5, "mem": "1Gi", "reservedMemory": "205Mi", "gpu": 0.5})
    assert request == resources.Resources(1.5, 1229.0, 1)
    assert resources.request_of({}) == resources.Resources(0.1, 4.0, 0)  # HKube's defaults


def test_the_budget_comes_from_the_settings_or_the_machine(settings: object) -> None:
    settings.HKUBE_CPU_BUDGET = 0  # type: ignore[attr-defined]
    settings.HKUBE_MEM_BUDGET = ""  # type: ignore[attr-defined]
    settings.HKUBE_GPUS = []  # type: ignore[attr-defined]
    settings.HKUBE_GPU_BUDGET = -1  # type: ignore[attr-defined]
    machine = resources.budget()
    assert machine.cpu == resources.machine_cpus() > 0
    assert machine.mem == resources.machine_memory_mi() > 0
    assert machine.gpus == resources.machine_gpus()

    settings.HKUBE_CPU_BUDGET = 2.5  # type: ignore[attr-defined]
    settings.HKUBE_MEM_BUDGET = "8Gi"  # type: ignore[attr-defined]
    settings.HKUBE_GPUS = ["2", "3"]  # type: ignore[attr-defined]
    assert resources.budget() == resources.Budget(2.5, 8192.0, ("2", "3"))
    settings.HKUBE_GPUS = []  # type: ignore[attr-defined]
    settings.HKUBE_GPU_BUDGET = 2  # type: ignore[attr-defined]
    assert len(resources.budget().gpus) == 2


def test_a_bad_memory_budget_is_a_configuration_error(settings: object) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.HKUBE_MEM_BUDGET = "lots"  # type: ignore[attr-defined]
    with pytest.raises(ImproperlyConfigured, match="HKUBE_MEM_BUDGET"):
        resources.budget()


def test_messages_name_the_resource_and_the_amounts() -> None:
    total = resources.Resources(2, 1024, 2)
    assert resources.over_capacity(resources.Resources(3, 100, 0), total) == (
        "Maximum capacity exceeded cpu (3 > 2)"
    )
    assert resources.over_capacity(resources.Resources(1, 2048, 3), total) == (
        "Maximum capacity exceeded mem (2048Mi > 1024Mi), gpu (3 > 2)"
    )
    assert resources.insufficient(resources.Resources(1.5, 10, 0), resources.Resources(0.5, 100, 0)) == (
        "Insufficient cpu (requested 1.5, available 0.5)"
    )
    assert resources.insufficient(resources.Resources(1, 10, 0), total) is None


# --- fitting --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_workers_start_only_while_their_cpu_fits_the_budget(
    launcher: FakeLauncher, real_redis: redis.Redis, algorithm: AddAlgorithm, queue: Enqueue
) -> None:
    algorithm("heavy", cpu=1.5)
    queue("heavy", 5)
    result = executor.reconcile()
    assert launcher.started == ["heavy"]
    assert result["cpu"] == 1.5
    assert result["unscheduled"] == {}  # it runs: its other tasks just wait their turn


@pytest.mark.django_db
def test_memory_counts_mem_plus_reserved_memory(
    launcher: FakeLauncher, real_redis: redis.Redis, algorithm: AddAlgorithm, queue: Enqueue
) -> None:
    algorithm("big-mem", mem="3Gi", reservedMemory="1Gi")
    queue("big-mem", 5)
    executor.reconcile()
    assert launcher.started == ["big-mem"] * 2  # 2 x 4Gi fill the 8Gi budget


@pytest.mark.django_db
def test_busy_workers_hold_their_resources(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    algorithm("first", cpu=1.5)
    algorithm("second", cpu=1.5)
    worker("first-a", "first", busy=True)
    queue("first", 1)
    queue("second", 1)
    result = executor.reconcile()
    assert launcher.started == []
    assert result["unscheduled"] == {"second": "Insufficient cpu (requested 1.5, available 0.5)"}
    stored = resources.unscheduled()["second"]
    assert stored["reason"] == "failedScheduling" and stored["code"] == 1002 and not stored["isError"]
    assert stored["since"] <= stored["timestamp"]


@pytest.mark.django_db
def test_the_reason_is_cleared_once_the_algorithm_gets_a_worker(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    algorithm("first", cpu=1.5)
    algorithm("second", cpu=1.5)
    worker("first-a", "first", busy=True)
    queue("second", 1)
    executor.reconcile()
    assert "second" in resources.unscheduled()
    real_redis.hdel(rc.WORKERS_KEY, "first-a")  # its work ended and it stopped
    executor.reconcile()
    assert launcher.started == ["second"]
    assert resources.unscheduled() == {}


# --- priorities -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_algorithm_with_the_highest_priority_work_goes_first(
    launcher: FakeLauncher, real_redis: redis.Redis, algorithm: AddAlgorithm, queue: Enqueue
) -> None:
    algorithm("aaa-low", cpu=1.5)
    algorithm("zzz-high", cpu=1.5)
    queue("aaa-low", 3, priority=5)
    queue("zzz-high", 1, priority=1)
    real_redis.hset(rc.WAITING_KEY, "aaa-low", time.time() - 300)  # waited much longer
    result = executor.reconcile()
    assert launcher.started == ["zzz-high"]
    assert result["unscheduled"]["aaa-low"] == "Insufficient cpu (requested 1.5, available 0.5)"


@pytest.mark.django_db
def test_equal_priorities_go_to_the_one_waiting_longest(
    launcher: FakeLauncher, real_redis: redis.Redis, algorithm: AddAlgorithm, queue: Enqueue
) -> None:
    algorithm("aaa", cpu=1.5)
    algorithm("bbb", cpu=1.5)
    queue("aaa", 1)
    queue("bbb", 1)
    now = time.time()
    real_redis.hset(rc.WAITING_KEY, mapping={"aaa": now - 10, "bbb": now - 60})
    executor.reconcile()
    assert launcher.started == ["bbb"]


@pytest.mark.django_db
def test_waiting_since_is_kept_across_ticks_and_forgotten_when_the_queue_empties(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    algorithm("first", cpu=1.5)
    algorithm("second", cpu=1.5)
    worker("first-a", "first", busy=True)
    queue("second", 1)
    executor.reconcile()
    since = float(real_redis.hget(rc.WAITING_KEY, "second") or 0)
    executor.reconcile()
    assert float(real_redis.hget(rc.WAITING_KEY, "second") or 0) == since > 0
    real_redis.delete("algorithm.second:3")
    executor.reconcile()
    assert real_redis.hget(rc.WAITING_KEY, "second") is None


@pytest.mark.django_db
def test_room_a_waiting_higher_priority_algorithm_needs_is_not_given_to_a_lower_one(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    algorithm("busy", cpu=1.0)
    algorithm("high", cpu=1.5)
    algorithm("low", cpu=0.5)
    worker("busy-a", "busy", busy=True)
    queue("busy", 1, priority=3)
    queue("high", 1, priority=1)
    queue("low", 1, priority=5)
    result = executor.reconcile()
    assert launcher.started == []
    assert result["unscheduled"]["high"] == "Insufficient cpu (requested 1.5, available 1)"
    assert result["unscheduled"]["low"] == (
        "Insufficient cpu (requested 0.5, available 0), held for higher-priority high"
    )


@pytest.mark.django_db
def test_an_idle_worker_of_lower_priority_work_gives_way_to_higher_priority_work(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    algorithm("low", cpu=1.5)
    algorithm("high", cpu=1.5)
    worker("low-a", "low", idle_for=1)
    queue("low", 2, priority=5)
    queue("high", 1, priority=2)
    executor.reconcile()
    assert launcher.stopped == ["low-a"]
    assert launcher.started == ["high"]


@pytest.mark.django_db
def test_an_idle_worker_of_higher_priority_work_is_not_taken(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    algorithm("high", cpu=1.5)
    algorithm("low", cpu=1.5)
    worker("high-a", "high", idle_for=1)
    queue("high", 2, priority=1)
    queue("low", 1, priority=5)
    executor.reconcile()
    assert launcher.stopped == []
    assert launcher.started == []


@pytest.mark.django_db
def test_a_worker_that_just_took_a_message_is_not_taken_for_idle(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    """Its heartbeat (every 2 s) still says idle, but its chunk is in flight."""
    algorithm("low", cpu=1.5)
    algorithm("high", cpu=1.5)
    worker("low-a", "low", idle_for=1)
    real_redis.hset(rc.INFLIGHT_KEY, "low-a", json.dumps({"chunk": "j:n:0"}))
    queue("high", 1, priority=1)
    result = executor.reconcile()
    assert launcher.stopped == []
    assert launcher.started == []
    assert result["unscheduled"]["high"] == "Insufficient cpu (requested 1.5, available 0.5)"


# --- never fits -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_over_the_budget_is_reported_and_fails_the_jobs_waiting_on_it(
    launcher: FakeLauncher, real_redis: redis.Redis, client: Client, algorithm: AddAlgorithm
) -> None:
    algorithm("too-big", cpu=3)
    job = waiting_job("job-never-fits", "too-big")
    real_redis.lpush("algorithm.too-big:3", kombu_message(job.job_id), kombu_message("job-other"))
    result = executor.reconcile()

    assert launcher.started == []
    assert result["unscheduled"] == {"too-big": "Maximum capacity exceeded cpu (3 > 2)"}
    warning = resources.unscheduled()["too-big"]
    assert warning["isError"] and warning["surpassTimeout"]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error is not None
    assert job.error.startswith("node n1 failed: Maximum capacity exceeded cpu (3 > 2)")
    assert "HKUBE_CPU_BUDGET" in job.error
    assert JobNode.objects.get(job=job).status == NodeStatus.FAILED
    # The failed job's message is dropped from the queue; others are left alone.
    assert real_redis.lrange("algorithm.too-big:3", 0, -1) == [kombu_message("job-other")]

    listed = client.get("/api/v1/store/algorithms").json()
    assert next(a for a in listed if a["name"] == "too-big")["unscheduledReason"] == (
        "Maximum capacity exceeded cpu (3 > 2)"
    )
    one = client.get("/api/v1/store/algorithms/too-big").json()
    assert one["unscheduledReason"] == "Maximum capacity exceeded cpu (3 > 2)"


@pytest.mark.django_db
def test_an_algorithm_without_a_reason_has_no_unscheduled_reason(
    launcher: FakeLauncher, client: Client, algorithm: AddAlgorithm
) -> None:
    algorithm("fine")
    executor.reconcile()
    assert "unscheduledReason" not in client.get("/api/v1/store/algorithms/fine").json()


# --- waiting nodes show why ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_nodes_waiting_for_an_unschedulable_algorithm_show_failed_scheduling(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    client: Client,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    algorithm("first", cpu=1.5)
    algorithm("second", cpu=1.5)
    worker("first-a", "first", busy=True)
    queue("second", 1)
    job = waiting_job("job-waiting", "second")
    executor.reconcile()

    status = client.get(f"/api/v1/exec/status/{job.job_id}").json()
    assert status["status"] == "active"
    assert status["data"]["states"] == {"failedScheduling": 1}
    assert status["data"]["warnings"] == [
        "node n1 waits for algorithm second: Insufficient cpu (requested 1.5, available 0.5)"
    ]
    graph = client.get(f"/api/v1/graph/raw/{job.job_id}").json()
    node = graph["nodes"][0]
    assert node["status"] == "failedScheduling"
    assert node["warnings"] == ["Insufficient cpu (requested 1.5, available 0.5)"]
    assert node["states"] == {"failedScheduling": 1}


@pytest.mark.django_db
def test_a_short_wait_shows_no_warning_before_the_warning_delay(
    launcher: FakeLauncher,
    real_redis: redis.Redis,
    client: Client,
    settings: object,
    algorithm: AddAlgorithm,
    worker: AddWorker,
    queue: Enqueue,
) -> None:
    settings.HKUBE_SCHEDULING_WARNING_SECONDS = 60  # type: ignore[attr-defined]
    algorithm("first", cpu=1.5)
    algorithm("second", cpu=1.5)
    worker("first-a", "first", busy=True)
    queue("second", 1)
    job = waiting_job("job-short-wait", "second")
    executor.reconcile()
    status = client.get(f"/api/v1/exec/status/{job.job_id}").json()
    assert status["data"]["states"] == {"creating": 1}
    assert "warnings" not in status["data"]


# --- GPUs ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_gpu_workers_get_their_own_devices_and_free_them_when_they_stop(
    launcher: FakeLauncher, real_redis: redis.Redis, settings: object, algorithm: AddAlgorithm, queue: Enqueue
) -> None:
    settings.HKUBE_GPUS = ["0", "1"]  # type: ignore[attr-defined]
    algorithm("trainer", gpu=1)
    algorithm("plain")
    queue("trainer", 5)
    queue("plain", 1)
    result = executor.reconcile()

    trainers = [w for w in launcher.envs if w.startswith("trainer")]
    assert sorted(launcher.envs[w]["CUDA_VISIBLE_DEVICES"] for w in trainers) == ["0", "1"]
    plain = next(w for w in launcher.envs if w.startswith("plain"))
    assert launcher.envs[plain] == {}  # a worker without gpu gets no devices
    assert result["unscheduled"] == {}  # trainer runs on two workers; the rest wait their turn
    held = resources.holdings()
    assert sorted(d for h in held.values() for d in h.devices) == ["0", "1"]

    # The worker holding device 0 stops (its shutdown removes it from the registry).
    first = next(w for w in trainers if launcher.envs[w]["CUDA_VISIBLE_DEVICES"] == "0")
    real_redis.hdel(rc.WORKERS_KEY, first)
    executor.reconcile()
    newest = list(launcher.envs)[-1]
    assert newest.startswith("trainer") and newest not in trainers
    assert launcher.envs[newest]["CUDA_VISIBLE_DEVICES"] == "0"
    assert first not in resources.holdings()


@pytest.mark.django_db
def test_multi_gpu_requests_get_that_many_devices(
    launcher: FakeLauncher, real_redis: redis.Redis, settings: object, algorithm: AddAlgorithm, queue: Enqueue
) -> None:
    settings.HKUBE_GPUS = ["4", "5", "6"]  # type: ignore[attr-defined]
    algorithm("pair", gpu=2)
    queue("pair", 2)
    executor.reconcile()
    assert [env["CUDA_VISIBLE_DEVICES"] for env in launcher.envs.values()] == ["4,5"]
    assert resources.unscheduled() == {}  # it has a worker; the second waits for it


@pytest.mark.django_db
def test_more_gpus_than_the_machine_has_never_fit(
    launcher: FakeLauncher, real_redis: redis.Redis, settings: object, algorithm: AddAlgorithm, queue: Enqueue
) -> None:
    settings.HKUBE_GPUS = ["0", "1"]  # type: ignore[attr-defined]
    algorithm("greedy", gpu=3)
    queue("greedy", 1)
    result = executor.reconcile()
    assert launcher.started == []
    assert result["unscheduled"] == {"greedy": "Maximum capacity exceeded gpu (3 > 2)"}


@pytest.mark.django_db
def test_an_idle_gpu_worker_gives_its_device_to_a_waiting_algorithm(
    launcher: FakeLauncher, real_redis: redis.Redis, settings: object, algorithm: AddAlgorithm, queue: Enqueue
) -> None:
    settings.HKUBE_GPUS = ["0"]  # type: ignore[attr-defined]
    algorithm("old", gpu=1)
    algorithm("new", gpu=1)
    queue("old", 1)
    executor.reconcile()
    old_worker = next(iter(launcher.envs))
    real_redis.delete("algorithm.old:3")  # its work is done; the worker is idle
    record = json.loads(real_redis.hget(rc.WORKERS_KEY, old_worker) or b"{}")
    record["lastActive"] = time.time() - 5
    real_redis.hset(rc.WORKERS_KEY, old_worker, json.dumps(record))
    queue("new", 1)
    executor.reconcile()
    assert launcher.stopped == [old_worker]
    assert launcher.envs[list(launcher.envs)[-1]] == {"CUDA_VISIBLE_DEVICES": "0"}
