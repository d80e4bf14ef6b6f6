"""`exec/logs/{jobId}`, the admin's task log, and where to connect a debugged algorithm
(`debug/{name}`, `exec/debug/{jobId}`). Logs are storage objects written here directly."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from django.test import Client

from algorithms import debug
from hkube_site import redis_client as rc
from hkube_site.object_store import get_storage
from pipelines import logs
from pipelines.engine import ids
from pipelines.models import Job, JobNode, JobStatus, Task
from tests.api.conftest import Api

PIPELINE = {
    "name": "logs-test",
    "nodes": [
        {"nodeName": "A", "algorithmName": "green-alg", "input": [1]},
        {"nodeName": "B", "algorithmName": "yellow-alg", "input": ["#@A"]},
    ],
}


def make_job(job_id: str, pipeline: dict[str, Any] | None = None) -> Job:
    pipeline = pipeline or PIPELINE
    job = Job.objects.create(
        job_id=job_id,
        pipeline_name=pipeline["name"],
        status=JobStatus.COMPLETED,
        pipeline=pipeline,
        user_pipeline=pipeline,
    )
    JobNode.objects.create(job=job, node_name="A", algorithm_name="green-alg", position=0, total=1)
    JobNode.objects.create(
        job=job, node_name="B", algorithm_name="yellow-alg", position=1, is_batch=True, total=3
    )
    return job


def write_log(job_id: str, node: str, batch_index: int, *messages: str, stream: str = "stdout") -> str:
    """Store a task's log as the runner does; returns its taskId."""
    task_id = ids.task_id(job_id, node, batch_index)
    task_log = logs.TaskLog()
    task_log.add((1700000000.0 + i, stream, message) for i, message in enumerate(messages))
    task_log.save(get_storage(), "local", job_id, task_id, node, batch_index)
    return task_id


@pytest.fixture
def job(api: Api) -> Job:
    job = make_job("job-logs")
    write_log(job.job_id, "A", 0, "a says hi")
    write_log(job.job_id, "B", 3, "item three", "three again")
    write_log(job.job_id, "B", 1, "item one")
    # B's item 2 printed nothing: no object, no entry.
    return job


def test_logs_come_per_task_in_node_then_batch_order(api: Api, job: Job):
    status, body = api.get(f"exec/logs/{job.job_id}")

    assert status == 200
    assert body["jobId"] == job.job_id and body["total"] == 3
    assert [(e["nodeName"], e["batchIndex"]) for e in body["logs"]] == [("A", 0), ("B", 1), ("B", 3)]
    three = body["logs"][2]
    assert three["taskId"] == ids.task_id(job.job_id, "B", 3)
    assert [line["message"] for line in three["lines"]] == ["item three", "three again"]
    assert three["lines"][0] == {"timestamp": 1700000000000, "stream": "stdout", "message": "item three"}
    assert three["truncated"] == 0


def test_logs_filter_by_node_batch_index_and_task(api: Api, job: Job):
    _, by_node = api.get(f"exec/logs/{job.job_id}?nodeName=B")
    _, by_item = api.get(f"exec/logs/{job.job_id}?nodeName=B&batchIndex=1")
    task_id = ids.task_id(job.job_id, "B", 3)
    _, by_task = api.get(f"exec/logs/{job.job_id}?taskId={task_id}")
    _, wrong_node = api.get(f"exec/logs/{job.job_id}?taskId={task_id}&nodeName=A")

    assert [e["batchIndex"] for e in by_node["logs"]] == [1, 3]
    assert [e["lines"][0]["message"] for e in by_item["logs"]] == ["item one"]
    assert [e["batchIndex"] for e in by_task["logs"]] == [3]
    assert wrong_node == {"jobId": job.job_id, "total": 0, "logs": []}


def test_limit_keeps_the_last_lines_and_counts_the_rest(api: Api, job: Job):
    _, body = api.get(f"exec/logs/{job.job_id}?nodeName=B&batchIndex=3&limit=1")

    [entry] = body["logs"]
    assert [line["message"] for line in entry["lines"]] == ["three again"]
    assert entry["truncated"] == 1


def test_a_job_whose_tasks_printed_nothing_has_no_logs(api: Api):
    job = make_job("job-quiet")

    assert api.get(f"exec/logs/{job.job_id}") == (200, {"jobId": job.job_id, "total": 0, "logs": []})


def test_logs_of_an_unknown_job_are_not_found(api: Api):
    assert api.error("get", "exec/logs/nope") == (404, "logs nope Not Found")


def test_bad_query_values_are_rejected(api: Api, job: Job):
    assert api.error("get", f"exec/logs/{job.job_id}?limit=x") == (400, "limit should be integer")
    assert api.error("get", f"exec/logs/{job.job_id}?batchIndex=-1") == (400, "batchIndex should be >= 0")


def test_a_task_that_printed_nothing_writes_nothing(api: Api):
    task_log = logs.TaskLog()
    task_log.note("attempt 2")  # our own notes alone are not worth an object
    task_log.save(get_storage(), "local", "job-empty", "t1", "A", 0)

    assert logs.task_ids_with_logs(get_storage(), "local", "job-empty") == set()


def test_a_long_log_keeps_its_last_lines_with_a_note():
    lines: list[logs.LogLine] = [
        {"timestamp": i, "stream": "stdout", "message": str(i)} for i in range(logs.MAX_LINES + 5)
    ]

    kept, dropped = logs.bound(lines)

    assert dropped == 5
    assert kept[0]["stream"] == "hkube" and kept[0]["message"].startswith("5 earlier lines were dropped")
    assert kept[1]["message"] == "5" and kept[-1]["message"] == str(logs.MAX_LINES + 4)


def test_a_huge_log_is_bounded_by_size():
    big = "x" * (1 << 20)
    lines: list[logs.LogLine] = [{"timestamp": i, "stream": "stdout", "message": big} for i in range(8)]

    kept, dropped = logs.bound(lines)

    assert dropped == 4 and len(kept) == 5  # four 1 MB lines fit in 5 MB, plus the note


def test_idle_lines_are_marked():
    task_log = logs.TaskLog()
    task_log.add([(1.0, "stderr", "warming up")], idle=True)
    task_log.add([(2.0, "stdout", "working")])

    assert task_log.lines == [
        {"timestamp": 1000, "stream": "stderr", "message": "warming up", "idle": True},
        {"timestamp": 2000, "stream": "stdout", "message": "working"},
    ]


def test_the_admin_task_page_shows_the_log(admin_client: Client, api: Api, job: Job):
    task = Task.objects.create(
        job=job, node_name="B", batch_index=3, task_id=ids.task_id(job.job_id, "B", 3), status="succeed"
    )
    quiet = Task.objects.create(
        job=job, node_name="B", batch_index=2, task_id=ids.task_id(job.job_id, "B", 2), status="succeed"
    )

    page = admin_client.get(f"/admin/pipelines/task/{task.pk}/change/").content.decode()
    quiet_page = admin_client.get(f"/admin/pipelines/task/{quiet.pk}/change/").content.decode()

    assert "[stdout] item three\n[stdout] three again" in page
    assert "printed nothing" in quiet_page


# --- debug: where to connect --------------------------------------------------------------------


def publish(client: redis.Redis, name: str, url: str, alive: bool = True) -> None:
    client.set(rc.DEBUG_URL_PREFIX + name, json.dumps({"url": url, "workerId": "w1", "since": 5}))
    if alive:
        client.set(rc.alive_key(debug.worker_key(name)), "w1", ex=10)


def test_debug_url_of_a_listening_worker(api: Api, real_redis: redis.Redis):
    publish(real_redis, "green-alg", "ws://127.0.0.1:4321/hkube/debug/green-alg")

    assert api.get("debug/green-alg") == (
        200,
        {
            "algorithmName": "green-alg",
            "url": "ws://127.0.0.1:4321/hkube/debug/green-alg",
            "workerId": "w1",
            "since": 5,
        },
    )


def test_debug_url_is_missing_until_a_live_worker_listens(api: Api, real_redis: redis.Redis):
    status, message = api.error("get", "debug/green-alg")
    publish(real_redis, "yellow-alg", "ws://x:1/hkube/debug/yellow-alg", alive=False)  # a dead worker's

    assert status == 404 and message.startswith("no debug worker listens for algorithm green-alg yet")
    assert api.error("get", "debug/yellow-alg")[0] == 404
    assert api.error("get", "debug/nosuch") == (404, "algorithm nosuch Not Found")


def test_job_debug_nodes_by_kind_and_by_debug_override(api: Api, real_redis: redis.Redis):
    pipeline = {
        "name": "dbg",
        "nodes": [
            {"nodeName": "A", "algorithmName": "green-alg", "input": []},
            {"nodeName": "B", "algorithmName": "yellow-alg", "input": [], "kind": "debug"},
            {"nodeName": "C", "algorithmName": "green-alg", "input": []},
        ],
        "options": {"debugOverride": ["C"]},
    }
    job = make_job("job-debug", pipeline)
    publish(real_redis, "yellow-alg", "ws://h:1/hkube/debug/yellow-alg")

    status, body = api.get(f"exec/debug/{job.job_id}")

    assert status == 200
    assert body == {
        "jobId": "job-debug",
        "nodes": [
            {"nodeName": "B", "algorithmName": "yellow-alg", "url": "ws://h:1/hkube/debug/yellow-alg"},
            {"nodeName": "C", "algorithmName": "green-alg", "url": None},
        ],
    }
    assert api.error("get", "exec/debug/nope") == (404, "debug nope Not Found")


def test_debug_nodes_are_routed_to_their_own_queue():
    plain = {"algorithmName": "x", "debug": False}
    debugged = {"algorithmName": "x", "debug": True}

    assert debug.route(plain) == ("algorithm.x", "x")
    assert debug.route(debugged) == ("debug.x", "debug:x")
    assert debug.worker_queue("debug:x") == "debug.x" and debug.worker_queue("x") == "algorithm.x"
