"""`gc/clean|dryrun|status`: old jobs, their temporary data and old build uploads cleaned by
age (maxAge in minutes), as HKube's gc-service does."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis

from builds.models import Build, BuildStatus
from hkube_site.object_store import get_storage
from pipelines.models import Job, JobStatus, now_ms
from tests.api.conftest import Api

DAY = 24 * 3600 * 1000


def make_job(status: str, ended_days_ago: float) -> str:
    job_id = uuid.uuid4().hex[:12]
    pipeline = {"name": "p1", "nodes": []}
    end = now_ms() - int(ended_days_ago * DAY)
    final = status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)
    Job.objects.create(
        job_id=job_id,
        pipeline_name="p1",
        pipeline=pipeline,
        user_pipeline=pipeline,
        status=status,
        start_time=end - 1000,
        end_time=end if final else None,
        status_timestamp=end,
    )
    storage = get_storage()
    storage.put(f"local-hkube/{job_id}/task1", {"v": 1})
    storage.put(f"local-hkube-results/{job_id}/result.json", {"v": 1})
    return job_id


def make_build(status: str, ended_days_ago: float) -> str:
    build_id = f"alg-{uuid.uuid4().hex[:6]}"
    path = f"local-hkube-builds/{build_id}"
    get_storage().adapter.put_bytes(path, b"archive")
    end = now_ms() - int(ended_days_ago * DAY)
    Build.objects.create(
        build_id=build_id, algorithm_name="alg", env="python", status=status, file_path=path,
        algorithm={"name": "alg"}, start_time=end - 1000, end_time=end, timestamp=end,
    )  # fmt: skip
    return build_id


def stored(prefix: str) -> bool:
    return bool(get_storage().adapter.list(prefix)) or get_storage().adapter.exists(prefix)


@pytest.fixture
def data(api: Api, real_redis: redis.Redis) -> dict[str, str]:
    return {
        "old": make_job(JobStatus.COMPLETED, 20),
        "middle": make_job(JobStatus.FAILED, 7),
        "recent": make_job(JobStatus.STOPPED, 0.01),
        "running": make_job(JobStatus.ACTIVE, 30),
        "old_build": make_build(BuildStatus.COMPLETED, 2),
        "recent_build": make_build(BuildStatus.FAILED, 0.01),
        "active_build": make_build(BuildStatus.ACTIVE, 3),
    }


def by_name(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in results}


def test_dryrun_counts_with_hkubes_default_ages_and_removes_nothing(api: Api, data: dict[str, str]) -> None:
    status, results = api.post("gc/dryrun", {})
    assert status == 200
    assert by_name(results) == {
        "jobs": {"name": "jobs", "count": 1, "sample": [data["old"]]},
        "storage": {"name": "storage", "count": 2, "sample": [data["old"], data["middle"]]},
        "builds": {"name": "builds", "count": 1, "sample": [data["old_build"]]},
    }
    assert Job.objects.count() == 4 and stored(f"local-hkube/{data['old']}/")
    assert stored(f"local-hkube-builds/{data['old_build']}")
    assert api.get("gc/status/jobs")[1][0]["lastRun"] is None


def test_clean_storage_keeps_jobs_and_results(api: Api, data: dict[str, str]) -> None:
    status, [result] = api.post("gc/clean/storage/", {"maxAge": 60})
    assert status == 200 and result["count"] == 2  # the jobs that ended more than an hour ago
    assert not stored(f"local-hkube/{data['old']}/") and not stored(f"local-hkube/{data['middle']}/")
    assert stored(f"local-hkube/{data['recent']}/") and stored(f"local-hkube/{data['running']}/")
    assert stored(f"local-hkube-results/{data['old']}/") and Job.objects.count() == 4
    assert api.post("gc/clean/storage", {"maxAge": 60})[1][0]["count"] == 0  # nothing left


def test_clean_jobs_removes_rows_and_data_of_jobs_that_ended(
    api: Api, data: dict[str, str], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        status, [result] = api.post("gc/clean/jobs", {"maxAge": 3 * 24 * 60})
    assert status == 200 and sorted(result["sample"]) == sorted([data["old"], data["middle"]])
    assert set(Job.objects.values_list("job_id", flat=True)) == {data["recent"], data["running"]}
    assert not stored(f"local-hkube-results/{data['old']}/") and not stored(f"local-hkube/{data['old']}/")
    assert stored(f"local-hkube/{data['running']}/")
    [state] = api.get("gc/status/jobs")[1]
    assert state["lastRun"]["count"] == 2 and state["lastRun"]["maxAge"] == 3 * 24 * 60


def test_clean_builds_removes_old_uploads_of_builds_that_ended(api: Api, data: dict[str, str]) -> None:
    status, [result] = api.post("gc/clean/builds", {"maxAge": 0})
    assert status == 200 and sorted(result["sample"]) == sorted([data["old_build"], data["recent_build"]])
    assert not stored(f"local-hkube-builds/{data['old_build']}")
    assert stored(f"local-hkube-builds/{data['active_build']}")
    assert Build.objects.count() == 3


def test_status_lists_every_cleaner(api: Api, real_redis: redis.Redis) -> None:
    status, cleaners = api.get("gc/status")
    assert status == 200
    assert [(c["name"], c["maxAge"], c["lastRun"]) for c in cleaners] == [
        ("jobs", 14400, None),
        ("storage", 7200, None),
        ("builds", 1440, None),
    ]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("post", "gc/clean/nope", {}, (404, "cleaner nope Not Found")),
        ("get", "gc/status/nope", None, (404, "cleaner nope Not Found")),
        ("post", "gc/dryrun", {"maxAge": "old"}, (400, "data.maxAge should be number")),
        ("post", "gc/clean", {"maxAge": -1}, (400, "data.maxAge should be >= 0")),
        ("post", "gc/clean", [], (400, "data should be object")),
    ],
)
def test_bad_requests(
    api: Api, real_redis: redis.Redis, method: str, path: str, body: Any, expected: tuple[int, str]
) -> None:
    assert api.error(method, path, body) == expected
