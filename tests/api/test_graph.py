"""`graph/raw` and `graph/parsed`: a job's runtime graph built from its node and task rows."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import redis
from django.test import Client

from hkube_site import redis_client as rc
from pipelines import services
from pipelines.engine import ids
from pipelines.models import Job, JobNode, JobStatus, NodeStatus, Task
from tests.api.conftest import Api

PIPELINE = {
    "name": "graph-test",
    "nodes": [
        {"nodeName": "A", "algorithmName": "green-alg", "input": ["@flowInput.x"]},
        {"nodeName": "B", "algorithmName": "yellow-alg", "input": ["#@A", 7]},
        {"nodeName": "C", "algorithmName": "green-alg", "input": ["@B"]},
    ],
}


def make_job(job_id: str, status: str = JobStatus.COMPLETED, pipeline: dict[str, Any] | None = None) -> Job:
    pipeline = pipeline or PIPELINE
    return Job.objects.create(
        job_id=job_id,
        pipeline_name=pipeline["name"],
        status=status,
        pipeline=pipeline,
        user_pipeline=pipeline,
        start_time=1_000,
        end_time=9_000 if status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED) else None,
        status_timestamp=9_000,
    )


def make_node(
    job: Job, name: str, status: str, *, level: int, total: int = 1, batch: bool = False
) -> JobNode:
    algorithm = next(n["algorithmName"] for n in job.pipeline["nodes"] if n["nodeName"] == name)
    return JobNode.objects.create(
        job=job,
        node_name=name,
        algorithm_name=algorithm,
        algorithm_version="v1",
        position=level,
        level=level,
        status=status,
        is_batch=batch,
        total=total,
        start_time=2_000,
        end_time=8_000 if status in (NodeStatus.SUCCEED, NodeStatus.FAILED, NodeStatus.STOPPED) else None,
    )


def make_tasks(job: Job, name: str, statuses: dict[int, str], errors: dict[int, str] | None = None) -> None:
    errors = errors or {}
    Task.objects.bulk_create(
        Task(
            job=job,
            node_name=name,
            task_id=ids.task_id(job.job_id, name, index),
            batch_index=index,
            status=status,
            error=errors.get(index),
            start_time=3_000 + index,
            end_time=4_000 + index,
            worker="worker-1",
        )
        for index, status in statuses.items()
    )


def finished_job(job_id: str = "graphjob0001") -> Job:
    job = make_job(job_id)
    make_node(job, "A", NodeStatus.SUCCEED, level=0)
    make_tasks(job, "A", {0: "succeed"})
    make_node(job, "B", NodeStatus.SUCCEED, level=1, total=3, batch=True)
    make_tasks(job, "B", {1: "succeed", 2: "succeed", 3: "succeed"})
    make_node(job, "C", NodeStatus.SUCCEED, level=2)
    make_tasks(job, "C", {0: "succeed"})
    return job


def by_name(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["nodeName"]: node for node in graph["nodes"]}


def test_graph_raw_lists_every_node_its_items_and_the_typed_edges(api: Api) -> None:
    job = finished_job()
    status, graph = api.get(f"graph/raw/{job.job_id}")
    assert status == 200
    assert graph["jobId"] == job.job_id
    assert graph["timestamp"] == 9_000
    assert [n["nodeName"] for n in graph["nodes"]] == ["A", "B", "C"]
    nodes = by_name(graph)
    assert nodes["A"] == {
        "nodeName": "A",
        "algorithmName": "green-alg",
        "algorithmVersion": "v1",
        "taskId": ids.task_id(job.job_id, "A", 0),
        "input": ["@flowInput.x"],
        "status": "succeed",
        "startTime": 2_000,
        "endTime": 8_000,
        "level": 0,
        "states": {"succeed": 1},
        "podName": "worker-1",
    }
    batch = nodes["B"]
    assert batch["input"] == ["#@A", 7]
    assert "taskId" not in batch
    assert [item["batchIndex"] for item in batch["batch"]] == [1, 2, 3]
    assert batch["batch"][0] == {
        "taskId": ids.task_id(job.job_id, "B", 1),
        "batchIndex": 1,
        "status": "succeed",
        "startTime": 3_001,
        "endTime": 4_001,
        "attempt": 1,
        "podName": "worker-1",
    }
    assert batch["batchInfo"] == {"idle": 0, "completed": 3, "errors": 0, "running": 0, "total": 3}
    assert graph["edges"] == [
        {"from": "A", "to": "B", "value": {"types": ["waitBatch", "input"]}},
        {"from": "B", "to": "C", "value": {"types": ["waitNode", "input"]}},
    ]


def test_graph_is_served_under_both_prefixes_with_or_without_a_slash(client: Client, db: None) -> None:
    job = finished_job()
    for url in (
        f"/api/v1/graph/raw/{job.job_id}",
        f"/api/v1/graph/raw/{job.job_id}/",
        f"/hkube/api-server/api/v1/graph/parsed/{job.job_id}/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.json()["jobId"] == job.job_id


def test_unknown_job_or_node_is_a_404_in_hkube_wording(api: Api) -> None:
    assert api.error("get", "graph/raw/nosuchjob") == (404, "graph nosuchjob Not Found")
    assert api.error("get", "graph/parsed/nosuchjob") == (404, "graph nosuchjob Not Found")
    job = finished_job()
    assert api.error("get", f"graph/parsed/{job.job_id}?node=Z") == (404, "node Z Not Found")


def test_failed_items_keep_their_error_and_count_in_batch_info(api: Api) -> None:
    job = make_job("graphjob0002", JobStatus.FAILED)
    make_node(job, "A", NodeStatus.SUCCEED, level=0)
    make_tasks(job, "A", {0: "succeed"})
    node = make_node(job, "B", NodeStatus.FAILED, level=1, total=4, batch=True)
    JobNode.objects.filter(pk=node.pk).update(error="2/4 (50%) failed tasks")
    make_tasks(job, "B", {1: "succeed", 2: "failed", 3: "succeed", 4: "failed"}, {2: "boom", 4: "bang"})
    make_node(job, "C", NodeStatus.STOPPED, level=2)
    _, graph = api.get(f"graph/raw/{job.job_id}")
    nodes = by_name(graph)
    b = nodes["B"]
    assert b["status"] == "failed"
    assert b["error"] == "2/4 (50%) failed tasks"
    assert [(i["batchIndex"], i["status"], i.get("error")) for i in b["batch"]] == [
        (1, "succeed", None),
        (2, "failed", "boom"),
        (3, "succeed", None),
        (4, "failed", "bang"),
    ]
    assert b["batchInfo"] == {"idle": 0, "completed": 4, "errors": 2, "running": 0, "total": 4}
    assert b["states"] == {"succeed": 2, "failed": 2}
    assert nodes["C"]["status"] == "stopped"
    assert nodes["C"]["states"] == {"stopped": 1}


def test_unrecorded_items_are_active_up_to_the_in_flight_count_then_creating(
    api: Api, real_redis: redis.Redis
) -> None:
    job = make_job("graphjob0003", JobStatus.ACTIVE)
    make_node(job, "A", NodeStatus.SUCCEED, level=0)
    make_tasks(job, "A", {0: "succeed"})
    make_node(job, "B", NodeStatus.ACTIVE, level=1, total=5, batch=True)
    make_tasks(job, "B", {1: "succeed", 3: "succeed"})
    make_node(job, "C", NodeStatus.CREATING, level=2)
    rc.add_active(job.job_id, "B", 2)

    _, graph = api.get(f"graph/raw/{job.job_id}")
    nodes = by_name(graph)
    b = nodes["B"]
    assert [(i["batchIndex"], i["status"]) for i in b["batch"]] == [
        (1, "succeed"),
        (2, "active"),
        (3, "succeed"),
        (4, "active"),
        (5, "creating"),
    ]
    assert b["batch"][1]["taskId"] == ids.task_id(job.job_id, "B", 2)
    assert b["batchInfo"] == {"idle": 1, "completed": 2, "errors": 0, "running": 2, "total": 5}
    assert b["states"] == {"succeed": 2, "active": 2, "creating": 1}
    assert "endTime" not in b
    assert nodes["C"]["status"] == "creating"
    assert nodes["C"]["taskId"] == ids.task_id(job.job_id, "C", 0)
    # The nodes' states add up to the job's status.data states.
    total: Counter[str] = Counter()
    for node in graph["nodes"]:
        total.update(node["states"])
    assert dict(total) == services.status_data(job)["states"]


def test_a_stopped_node_reports_its_unrecorded_items_as_stopped(api: Api) -> None:
    job = make_job("graphjob0004", JobStatus.STOPPED)
    make_node(job, "A", NodeStatus.SUCCEED, level=0)
    make_node(job, "B", NodeStatus.STOPPED, level=1, total=3, batch=True)
    make_tasks(job, "B", {2: "succeed"})
    make_node(job, "C", NodeStatus.STOPPED, level=2)
    _, graph = api.get(f"graph/raw/{job.job_id}")
    b = by_name(graph)["B"]
    assert [i["status"] for i in b["batch"]] == ["stopped", "succeed", "stopped"]
    assert b["batchInfo"] == {"idle": 0, "completed": 1, "errors": 0, "running": 2, "total": 3}


def test_a_pending_job_shows_its_nodes_from_the_descriptor_as_creating(api: Api) -> None:
    job = make_job("graphjob0005", JobStatus.PENDING)
    _, graph = api.get(f"graph/raw/{job.job_id}")
    assert [(n["nodeName"], n["status"], n["level"]) for n in graph["nodes"]] == [
        ("A", "creating", 0),
        ("B", "creating", 1),
        ("C", "creating", 2),
    ]
    assert all("batch" not in n and n["startTime"] is None for n in graph["nodes"])
    assert len(graph["edges"]) == 2


def test_a_batch_node_skipped_for_no_items_shows_one_skipped_item(api: Api) -> None:
    job = make_job("graphjob0006")
    make_node(job, "A", NodeStatus.SUCCEED, level=0)
    make_node(job, "B", NodeStatus.SKIPPED, level=1, total=0, batch=True)
    make_node(job, "C", NodeStatus.SUCCEED, level=2)
    _, graph = api.get(f"graph/raw/{job.job_id}")
    b = by_name(graph)["B"]
    [item] = b["batch"]
    assert (item["batchIndex"], item["status"]) == (1, "skipped")
    assert item["taskId"] == ids.task_id(job.job_id, "B", 1)
    assert b["status"] == "skipped" and b["states"] == {"skipped": 1}
    assert b["batchInfo"]["total"] == 0


# --- graph/parsed -------------------------------------------------------------------------


def batch_job(job_id: str = "graphjob0010", items: int = 6) -> Job:
    job = make_job(job_id)
    make_node(job, "A", NodeStatus.SUCCEED, level=0)
    make_tasks(job, "A", {0: "succeed"})
    make_node(job, "B", NodeStatus.SUCCEED, level=1, total=items, batch=True)
    statuses = {i: ("failed" if i % 3 == 0 else "succeed") for i in range(1, items + 1)}
    make_tasks(job, "B", statuses, {i: f"error {i}" for i, s in statuses.items() if s == "failed"})
    make_node(job, "C", NodeStatus.SUCCEED, level=2)
    return job


def parsed(api: Api, job: Job, query: str) -> dict[str, Any]:
    status, body = api.get(f"graph/parsed/{job.job_id}?{query}")
    assert status == 200, body
    return body


def indices(graph: dict[str, Any], node: str = "B") -> list[int]:
    return [item["batchIndex"] for item in by_name(graph)[node]["batch"]]


def test_parsed_narrows_to_one_node_and_the_edges_that_touch_it(api: Api) -> None:
    job = batch_job()
    graph = parsed(api, job, "node=C")
    assert [n["nodeName"] for n in graph["nodes"]] == ["C"]
    assert graph["edges"] == [{"from": "B", "to": "C", "value": {"types": ["waitNode", "input"]}}]
    graph = parsed(api, job, "node=B")
    assert [(e["from"], e["to"]) for e in graph["edges"]] == [("A", "B"), ("B", "C")]


def test_parsed_slices_batch_items_in_batch_index_order_by_default(api: Api) -> None:
    job = batch_job()
    assert indices(parsed(api, job, "")) == [1, 2, 3, 4, 5, 6]
    assert indices(parsed(api, job, "from=1&to=3")) == [2, 3]
    assert indices(parsed(api, job, "order=desc&from=0&to=2")) == [6, 5]
    assert indices(parsed(api, job, "from=-2")) == [5, 6]
    assert indices(parsed(api, job, "from=4&to=100")) == [5, 6]


def test_parsed_with_an_empty_slice_keeps_the_counts(api: Api) -> None:
    job = batch_job()
    b = by_name(parsed(api, job, "from=0&to=0"))["B"]
    assert b["batch"] == []
    assert b["batchInfo"] == {"idle": 0, "completed": 6, "errors": 2, "running": 0, "total": 6}
    assert b["states"] == {"succeed": 4, "failed": 2}


def test_parsed_sorts_by_any_item_field_then_batch_index(api: Api) -> None:
    job = batch_job()
    assert indices(parsed(api, job, "node=B&sort=status")) == [3, 6, 1, 2, 4, 5]
    assert indices(parsed(api, job, "node=B&sort=status&order=desc&to=3")) == [1, 2, 4]
    # Items without an error come last ascending, first descending.
    assert indices(parsed(api, job, "node=B&sort=error")) == [3, 6, 1, 2, 4, 5]
    assert indices(parsed(api, job, "node=B&sort=startTime&order=desc&from=0&to=2")) == [6, 5]


def test_parsed_refuses_bad_query_values(api: Api) -> None:
    job = batch_job()
    status, message = api.error("get", f"graph/parsed/{job.job_id}?order=up")
    assert status == 400 and "order" in message
    status, message = api.error("get", f"graph/parsed/{job.job_id}?from=one")
    assert (status, message) == (400, "from should be integer")
    status, message = api.error("get", f"graph/parsed/{job.job_id}?sort=color")
    assert status == 400 and "batchIndex" in message


@pytest.mark.django_db
def test_a_ten_thousand_item_batch_is_sliced_from_the_rows_of_the_slice_only(
    api: Api, django_assert_max_num_queries: Any
) -> None:
    job = batch_job("graphjob0011", items=10_000)
    with django_assert_max_num_queries(5):
        graph = parsed(api, job, "node=B&order=desc&from=10&to=20")
    assert indices(graph) == list(range(9_990, 9_980, -1))
    _, raw = api.get(f"graph/raw/{job.job_id}")
    b = by_name(raw)["B"]
    assert len(b["batch"]) == 10_000
    assert b["batchInfo"]["errors"] == 3_333
