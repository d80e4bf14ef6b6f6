"""`queue/*`: jobs waiting to start, in the managed queue (HKube's score) or the preferred
queue (a user's order, released first)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from pipelines import services
from pipelines.models import Job, JobStatus, now_ms
from tests.api.conftest import Api

HOUR = 3600 * 1000


def make_job(
    job_id: str,
    *,
    priority: int = 3,
    age_ms: int = 0,
    pipeline: str = "p1",
    tags: list[str] | None = None,
    status: str = JobStatus.PENDING,
    held: bool = True,
) -> Job:
    descriptor = {
        "name": pipeline,
        "nodes": [{"nodeName": "a", "algorithmName": "green-alg", "input": []}],
        "options": {"concurrentPipelines": {"amount": 1, "rejectOnFailure": False}},
    }
    return Job.objects.create(
        job_id=job_id,
        pipeline_name=pipeline,
        pipeline=descriptor,
        user_pipeline=descriptor,
        types=["raw"],
        tags=tags or [],
        priority=priority,
        status=status,
        max_exceeded=held,
        start_time=now_ms() - age_ms,
    )


@pytest.fixture
def queued(api: Api) -> Api:
    make_job("low", priority=5)
    make_job("high", priority=1, tags=["urgent"])
    make_job("old", priority=5, age_ms=2 * HOUR, pipeline="p2")
    make_job("mid", priority=3, tags=["urgent"])
    make_job("running", status=JobStatus.ACTIVE, held=False, pipeline="p3")
    return api


def ids(body: dict[str, Any]) -> list[str]:
    return [item["jobId"] for item in body["returnList"]]


@pytest.mark.parametrize("prefix", ["/api/v1/", "/hkube/api-server/api/v1/"])
def test_count_and_the_managed_queue_in_hkubes_score_order(queued: Api, client: Client, prefix: str) -> None:
    assert client.get(prefix + "queue/count/").json() == {"managed": 4, "preferred": 0}
    body = client.get(prefix + "queue/managed").json()
    # An old low-priority job overtakes fresh ones (aging), priority 1 before 3 before 5.
    assert ids(body) == ["old", "high", "mid", "low"]
    assert (body["prevCount"], body["nextCount"]) == (0, 0)
    first = body["returnList"][1]
    assert first == {
        "jobId": "high",
        "experimentName": "main",
        "pipelineName": "p1",
        "priority": 1,
        "maxExceeded": True,
        "entranceTime": first["entranceTime"],
        "tags": ["urgent"],
    }


def test_paging_and_filters(queued: Api) -> None:
    page = queued.get("queue/managed?pageSize=2")[1]
    assert (ids(page), page["prevCount"], page["nextCount"]) == (["old", "high"], 0, 2)
    after = queued.get("queue/managed?pageSize=2&lastJobId=high")[1]
    assert (ids(after), after["prevCount"], after["nextCount"]) == (["mid", "low"], 2, 0)
    before = queued.get("queue/managed?pageSize=2&firstJobId=mid")[1]
    assert (ids(before), before["prevCount"], before["nextCount"]) == (["old", "high"], 0, 2)
    last = queued.get("queue/managed?pageSize=1&lastJobs=true")[1]
    assert (ids(last), last["prevCount"], last["nextCount"]) == (["low"], 3, 0)
    assert ids(queued.get("queue/managed?tag=urgent")[1]) == ["high", "mid"]
    assert ids(queued.get("queue/managed?pipelineName=p2")[1]) == ["old"]
    assert queued.get("queue/managed/aggregation/tag")[1] == [{"name": "urgent", "count": 2}]
    by_pipeline = {a["name"]: a["count"] for a in queued.get("queue/managed/aggregation/pipeline")[1]}
    assert by_pipeline == {"p1": 3, "p2": 1}


def test_preferred_positions_and_deletes(queued: Api) -> None:
    status, added = queued.post("queue/preferred", {"jobs": ["low", "running", "nope"], "position": "first"})
    assert status == 201 and [a["jobId"] for a in added] == ["low"]  # only waiting jobs move
    queued.post("queue/preferred", {"jobs": ["mid"], "position": "last"})
    queued.post("queue/preferred", {"jobs": ["old"], "position": "before", "query": {"jobId": "mid"}})
    queued.post("queue/preferred", {"jobs": ["high"], "position": "after", "query": {"tag": "urgent"}})
    assert ids(queued.get("queue/preferred")[1]) == ["low", "old", "mid", "high"]
    assert queued.get("queue/count")[1] == {"managed": 0, "preferred": 4}
    assert queued.get("queue/preferred/aggregation/pipeline")[1] == [
        {"name": "p1", "count": 3},
        {"name": "p2", "count": 1},
    ]
    status, removed = queued.post("queue/preferred/deletes", {"jobs": ["old", "mid"]})
    assert status == 200 and sorted(r["jobId"] for r in removed) == ["mid", "old"]
    assert ids(queued.get("queue/preferred")[1]) == ["low", "high"]
    assert ids(queued.get("queue/managed")[1]) == ["old", "mid"]


def test_held_jobs_are_released_in_the_preferred_order_first(
    queued: Api, django_capture_on_commit_callbacks: Any
) -> None:
    queued.post("queue/preferred", {"jobs": ["low"], "position": "first"})
    with django_capture_on_commit_callbacks(execute=False):
        released = services.release_held_jobs("p1")
    # One slot: priority alone would pick "high"; the preferred queue goes first.
    assert released == ["low"]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("get", "queue/managed?pageSize=0", None, (400, "data.pageSize should be >= 1")),
        ("get", "queue/preferred?pageSize=x", None, (400, "data.pageSize should be integer")),
        ("get", "queue/managed?lastJobs=maybe", None, (400, "data.lastJobs should be boolean")),
        (
            "post",
            "queue/preferred",
            {"position": "first"},
            (400, "data should have required property 'jobs'"),
        ),
        ("post", "queue/preferred", {"jobs": "low", "position": "first"}, (400, "data.jobs should be array")),
        (
            "post",
            "queue/preferred",
            {"jobs": [1], "position": "first"},
            (400, "data.jobs[0] should be string"),
        ),
        ("post", "queue/preferred", {"jobs": []}, (400, "data should have required property 'position'")),
        (
            "post",
            "queue/preferred",
            {"jobs": [], "position": "middle"},
            (400, "data.position should be equal to one of the allowed values (first,last,before,after)"),
        ),
        (
            "post",
            "queue/preferred",
            {"jobs": ["low"], "position": "before"},
            (400, "data.query should have required property 'jobId', 'tag' or 'pipelineName'"),
        ),
        (
            "post",
            "queue/preferred",
            {"jobs": ["low"], "position": "after", "query": {"jobId": "nope"}},
            (400, "no job in the preferred queue matches the query"),
        ),
        (
            "post",
            "queue/preferred",
            {"jobs": [], "position": "first", "query": 3},
            (400, "data.query should be object"),
        ),
        ("post", "queue/preferred/deletes", [], (400, "data should be object")),
    ],
)
def test_bad_requests_get_a_400_naming_the_field(
    queued: Api, method: str, path: str, body: Any, expected: tuple[int, str]
) -> None:
    assert queued.error(method, path, body) == expected
