"""exec/jobs, exec/auditTrail, exec/flowInput and exec/search: HKube's shapes and messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipelines import services
from pipelines.models import Job, JobStatus
from tests.api.conftest import Api

HOUR = 3600 * 1000
BASE = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def add_job(
    job_id: str,
    *,
    name: str = "p1",
    status: str = JobStatus.COMPLETED,
    start: int = BASE,
    types: list[str] | None = None,
    algorithms: tuple[str, ...] = ("green-alg",),
    tags: list[str] | None = None,
    external_id: str | None = None,
    experiment: str = "main",
) -> Job:
    pipeline = {
        "name": name,
        "experimentName": experiment,
        "nodes": [{"nodeName": f"n{i}", "algorithmName": a, "input": []} for i, a in enumerate(algorithms)],
        "types": types or ["raw"],
    }
    return Job.objects.create(
        job_id=job_id,
        pipeline_name=name,
        experiment=experiment,
        status=status,
        pipeline=pipeline,
        user_pipeline={"name": name},
        types=types or ["raw"],
        tags=tags or [],
        external_id=external_id,
        start_time=start,
        status_timestamp=start,
        result={"status": status, "timestamp": start + 1000} if status == JobStatus.COMPLETED else None,
        audit_trail=[{"timestamp": start, "user": "defaultUser", "action": "run"}],
    )


def ids(body: dict[str, Any]) -> list[str]:
    return [hit["jobId"] for hit in body["hits"]]


# --- exec/jobs -----------------------------------------------------------------------------------


def test_exec_jobs_lists_active_and_pending_jobs_by_default(api: Api) -> None:
    add_job("j1", status=JobStatus.ACTIVE)
    add_job("j2", status=JobStatus.PENDING, name="p2")
    add_job("j3", status=JobStatus.COMPLETED)
    status, body = api.get("exec/jobs")
    assert status == 200
    assert sorted(body, key=lambda j: j["jobId"]) == [
        {"jobId": "j1", "status": "active", "pipelineName": "p1"},
        {"jobId": "j2", "status": "pending", "pipelineName": "p2"},
    ]
    assert api.get("exec/jobs?status=completed") == (
        200,
        [{"jobId": "j3", "status": "completed", "pipelineName": "p1"}],
    )
    assert sorted(api.get("exec/jobs?raw=true")[1]) == ["j1", "j2"]


# --- exec/auditTrail -----------------------------------------------------------------------------


def test_audit_trail_is_the_array_spread_into_an_object(api: Api) -> None:
    job = add_job("j1", status=JobStatus.ACTIVE)
    api.post("exec/pause", {"jobId": "j1"})
    status, body = api.get("exec/auditTrail/j1")
    assert status == 200
    assert set(body) == {"0", "1", "jobId"}
    assert body["jobId"] == "j1"
    assert body["0"]["action"] == "pause"
    assert body["1"] == job.audit_trail[0]
    assert api.error("get", "exec/auditTrail/nope") == (404, "auditTrail nope Not Found")


# --- exec/flowInput ------------------------------------------------------------------------------


def test_flow_input_is_read_back_from_storage(api: Api) -> None:
    flow = {"x": [1, 2, 3], "deep": {"y": "z"}}
    status, body = api.post(
        "exec/raw",
        {"name": "p1", "nodes": [{"nodeName": "a", "algorithmName": "green-alg"}], "flowInput": flow},
    )
    assert status == 200, body
    response = api.client.get(f"/api/v1/exec/flowInput/{body['jobId']}")
    assert response.status_code == 200
    assert response.json() == flow
    assert "Content-Disposition" not in response
    download = api.client.get(f"/api/v1/exec/flowInput/{body['jobId']}?download=true")
    assert json.loads(download.content) == flow
    assert download["Content-Disposition"] == 'attachment;filename="flowInput.json"'


def test_flow_input_is_an_empty_404_when_there_is_none(api: Api) -> None:
    add_job("j1")
    for job_id in ("j1", "nope"):
        response = api.client.get(f"/api/v1/exec/flowInput/{job_id}")
        assert (response.status_code, response.content) == (404, b"")


# --- exec/search ---------------------------------------------------------------------------------


@pytest.fixture
def jobs(api: Api) -> Api:
    add_job("a1", name="alpha", start=BASE, types=["raw"], tags=["x"])
    add_job(
        "a2", name="alpha", start=BASE + HOUR, types=["stored"], algorithms=("yellow-alg",), tags=["x", "y"]
    )
    add_job("a3", name="alpha", start=BASE + 2 * HOUR, status=JobStatus.PENDING, types=["stored", "rerun"])
    add_job(
        "b1", name="beta", start=BASE + 3 * HOUR, external_id="ext-1", algorithms=("green-alg", "yellow-alg")
    )
    add_job("b2", name="beta", start=BASE + 4 * HOUR, experiment="other")
    return api


def test_search_returns_full_job_documents_newest_first(jobs: Api) -> None:
    status, body = jobs.post("exec/search", {})
    assert status == 200, body
    assert ids(body) == ["b2", "b1", "a3", "a2", "a1"]
    assert body["cursor"] == "a1"
    assert body["timeTook"].endswith("ms") and float(body["timeTook"][:-2]) >= 0
    hit = body["hits"][1]
    assert set(hit) == {
        "jobId", "externalId", "userPipeline", "pipeline", "status", "result", "completion", "auditTrail"
    }  # fmt: skip
    assert hit["externalId"] == "ext-1"
    assert hit["status"]["status"] == "completed" and "jobId" not in hit["status"]
    assert hit["result"] == {"status": "completed", "timestamp": BASE + 3 * HOUR + 1000}
    assert hit["auditTrail"][0]["action"] == "run"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"pipelineName": "alpha"}, ["a3", "a2", "a1"]),
        ({"pipelineName": "b1"}, ["b1"]),
        ({"pipelineName": "ext-1"}, ["b1"]),
        ({"pipelineStatus": "pending"}, ["a3"]),
        ({"experimentName": "other"}, ["b2"]),
        ({"pipelineType": "stored"}, ["a3", "a2"]),
        ({"pipelineType": "rerun", "pipelineName": "alpha"}, ["a3"]),
        ({"algorithmName": "yellow-alg"}, ["b1", "a2"]),
        ({"tags": ["x"]}, ["a2", "a1"]),
        ({"tags": ["x", "y"]}, ["a2"]),
        ({"datesRange": {"from": "2023-11-14T23:13:20Z", "to": "2023-11-15T01:13:20Z"}}, ["b1", "a3", "a2"]),
        ({"datesRange": {"from": str(BASE + 4 * HOUR)}}, ["b2"]),
    ],
)
def test_search_filters(jobs: Api, query: dict[str, Any], expected: list[str]) -> None:
    status, body = jobs.post("exec/search", {"query": query})
    assert status == 200, body
    assert ids(body) == expected


def test_search_pages_with_the_cursor_in_both_orders(jobs: Api) -> None:
    first = jobs.post("exec/search", {"limit": 2, "sort": "asc"})[1]
    assert ids(first) == ["a1", "a2"] and first["cursor"] == "a2"
    second = jobs.post("exec/search", {"limit": 2, "sort": "asc", "cursor": first["cursor"]})[1]
    assert ids(second) == ["a3", "b1"]
    third = jobs.post("exec/search", {"limit": 2, "sort": "asc", "cursor": second["cursor"]})[1]
    assert ids(third) == ["b2"]
    desc = jobs.post("exec/search", {"limit": 2, "cursor": "a3"})[1]
    assert ids(desc) == ["a2", "a1"]
    filtered = jobs.post("exec/search", {"limit": 1, "query": {"algorithmName": "yellow-alg"}})[1]
    assert ids(filtered) == ["b1"]
    rest = jobs.post("exec/search", {"limit": 1, "query": {"algorithmName": "yellow-alg"}, "cursor": "b1"})[1]
    assert ids(rest) == ["a2"]


def test_search_pages_by_page_number(jobs: Api) -> None:
    assert ids(jobs.post("exec/search", {"limit": 2, "pageNum": 2})[1]) == ["a3", "a2"]
    assert ids(
        jobs.post("exec/search", {"limit": 1, "pageNum": 2, "query": {"pipelineType": "stored"}})[1]
    ) == ["a2"]


def test_search_projects_fields_and_filters_on_existing_ones(jobs: Api) -> None:
    body = jobs.post("exec/search", {"fields": {"jobId": True, "status.status": True}, "limit": 1})[1]
    assert body["hits"] == [{"jobId": "b2", "status": {"status": "completed"}}]
    body = jobs.post("exec/search", {"exists": {"result": False}})[1]
    assert ids(body) == ["a3"]


def test_search_by_query_parameters(jobs: Api) -> None:
    status, body = jobs.get("exec/search?pipelineName=alpha&sort=asc&limit=2&fields=jobId:true")
    assert status == 200, body
    assert body["hits"] == [{"jobId": "a1"}, {"jobId": "a2"}]
    assert ids(jobs.get("exec/search?tags=x,y")[1]) == ["a2"]
    assert ids(jobs.get("exec/search?pipelineType=stored&page=2&limit=1")[1]) == ["a2"]
    assert ids(jobs.get(f"exec/search?from={BASE + 3 * HOUR}")[1]) == ["b2", "b1"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"cursor": "nope"}, "please provide a valid cursor"),
        ({"limit": 101}, "data.limit should be <= 100"),
        ({"sort": "up"}, "data.sort should be equal to one of the allowed values (asc,desc)"),
    ],
)
def test_search_refuses_bad_requests(jobs: Api, body: dict[str, Any], message: str) -> None:
    assert jobs.error("post", "exec/search", body) == (400, message)


def test_search_finds_nothing_without_a_cursor(api: Api) -> None:
    assert api.post("exec/search", {"query": {"pipelineName": "none"}})[1]["hits"] == []
    assert "cursor" not in api.post("exec/search", {})[1]


def test_search_documents_hold_the_status_of_running_jobs(api: Api) -> None:
    job_id = api.post("exec/raw", {"name": "p1", "nodes": [{"nodeName": "a", "algorithmName": "green-alg"}]})[
        1
    ]["jobId"]
    hit = api.post("exec/search", {"query": {"pipelineName": job_id}})[1]["hits"][0]
    assert hit["status"]["status"] == "pending"
    assert hit["result"] is None and hit["completion"] is False
    assert hit["pipeline"]["types"] == ["raw"] and hit["userPipeline"]["name"] == "p1"
    assert services.status_object(Job.objects.get(job_id=job_id))["status"] == "pending"
