"""`pipelines/results|status` and `cron/results|status`: history across jobs, in HKube's words."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.models import Job
from tests.api.conftest import Api


def finished_job(
    job_id: str, name: str, end: int, *, status: str = "stopped", types: list[str] | None = None, **extra: Any
) -> Job:
    """A finished job whose result needs no storage (a stopped one has no data)."""
    return Job.objects.create(
        job_id=job_id,
        pipeline_name=name,
        pipeline={"name": name},
        user_pipeline={"name": name},
        types=types or ["raw"],
        status=status,
        start_time=end - 1000,
        end_time=end,
        status_timestamp=end,
        result={"startTime": end - 1000, "pipeline": name, "status": status, "reason": "r", "timestamp": end},
        **extra,
    )


@pytest.fixture
def history(api: Api) -> Api:
    finished_job("job-old", "p1", 1_000)
    finished_job("job-mid", "p1", 2_000)
    finished_job("job-new", "p1", 3_000)
    finished_job("job-other", "p2", 4_000)
    finished_job("job-exp", "p1", 5_000, experiment="exp-b")
    Job.objects.create(
        job_id="job-running", pipeline_name="p1", pipeline={"name": "p1"}, user_pipeline={},
        status="pending", start_time=6_000, status_timestamp=6_000,
    )  # fmt: skip
    return api


def test_pipeline_results_are_newest_first_and_one_by_default(history: Api) -> None:
    status, body = history.get("pipelines/results?name=p1")
    assert status == 200, body
    assert [r["jobId"] for r in body] == ["job-new"]
    assert body[0] == {
        "jobId": "job-new", "startTime": 2_000, "pipeline": "p1", "status": "stopped", "reason": "r",
        "timestamp": 3_000,
    }  # fmt: skip


def test_pipeline_results_honour_sort_limit_and_experiment(history: Api) -> None:
    _, body = history.get("pipelines/results?name=p1&limit=5&sort=asc")
    assert [r["jobId"] for r in body] == ["job-old", "job-mid", "job-new"]
    _, body = history.get("pipelines/results?limit=10")
    assert [r["jobId"] for r in body] == ["job-other", "job-new", "job-mid", "job-old"]
    _, body = history.get("pipelines/results?name=p1&experimentName=exp-b&limit=10")
    assert [r["jobId"] for r in body] == ["job-exp"]


def test_pipeline_status_lists_running_jobs_too(history: Api) -> None:
    status, body = history.get("pipelines/status?name=p1&limit=2")
    assert status == 200, body
    assert [(s["jobId"], s["status"]) for s in body] == [("job-running", "pending"), ("job-new", "stopped")]


def test_history_of_an_unknown_pipeline_is_not_found(history: Api) -> None:
    assert history.error("get", "pipelines/results?name=nope") == (404, "pipeline results nope Not Found")
    assert history.error("get", "pipelines/status?name=nope") == (404, "pipeline status nope Not Found")
    # HKube formats a missing name as JavaScript's `undefined`.
    assert history.error("get", "pipelines/results?experimentName=none") == (
        404,
        "pipeline results undefined Not Found",
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sort=up", "data.sort should be equal to one of the allowed values (asc,desc)"),
        ("limit=0", "data.limit should be >= 1"),
        ("limit=many", "data.limit should be integer"),
        ("limit=100001", "data.limit should be <= 100000"),
    ],
)
def test_history_queries_are_validated(history: Api, query: str, message: str) -> None:
    assert history.error("get", f"pipelines/results?name=p1&{query}") == (400, message)
    assert history.error("get", f"cron/status?name=p1&{query}") == (400, message)


def test_cron_history_lists_only_cron_jobs(history: Api) -> None:
    assert history.error("get", "cron/results?name=p1") == (404, "cron results p1 Not Found")
    assert history.error("get", "cron/status?name=p1") == (404, "cron status p1 Not Found")
    finished_job("job-cron-1", "p1", 7_000, types=["stored", "internal", "cron"])
    finished_job("job-cron-2", "p1", 8_000, types=["stored", "internal", "cron"])
    _, body = history.get("cron/results?name=p1&limit=5")
    assert [r["jobId"] for r in body] == ["job-cron-2", "job-cron-1"]
    _, body = history.get("cron/status?name=p1&sort=asc&limit=1")
    assert [s["jobId"] for s in body] == ["job-cron-1"]


def test_history_endpoints_answer_get_only(history: Api) -> None:
    response = history.client.post("/api/v1/pipelines/results", "{}", content_type="application/json")
    assert response.status_code == 405
    assert response.json() == {"error": {"code": 405, "message": "Method Not Allowed"}}
