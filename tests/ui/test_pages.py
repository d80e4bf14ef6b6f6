"""The job pages: the list with its filters and JSON feed, one job's page, and their assets."""

from __future__ import annotations

import redis
from django.test import Client

from hkube_site import redis_client as rc
from pipelines.models import Job, JobNode, JobStatus, NodeStatus

PIPELINE = {
    "name": "alpha",
    "nodes": [
        {"nodeName": "first", "algorithmName": "green-alg", "input": ["#[1,2,3]"]},
        {"nodeName": "second", "algorithmName": "green-alg", "input": ["@first"]},
    ],
}


def make_job(
    job_id: str, pipeline: str = "alpha", status: str = JobStatus.COMPLETED, **fields: object
) -> Job:
    descriptor = {**PIPELINE, "name": pipeline}
    return Job.objects.create(
        job_id=job_id,
        pipeline_name=pipeline,
        status=status,
        pipeline=descriptor,
        user_pipeline=descriptor,
        types=["raw"],
        **fields,
    )


def test_root_redirects_to_the_job_list(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/jobs/"


def test_job_list_shows_recent_jobs_with_status_progress_and_links(client: Client, db: None) -> None:
    make_job(
        "listjob00001",
        status=JobStatus.COMPLETED,
        start_time=1_000,
        end_time=4_500,
        status_data={"progress": 100, "states": {"succeed": 4}, "details": "100% completed, 4 succeed"},
    )
    make_job("listjob00002", pipeline="beta", status=JobStatus.PENDING)
    response = client.get("/jobs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/jobs/listjob00001/"' in page
    assert "listjob00002" in page
    assert "status-completed" in page and "status-pending" in page
    assert "width: 100.0%" in page
    assert 'href="/admin/"' in page and 'href="/swagger/"' in page
    assert "/jobs/assets/jobs.js" in page and "/jobs/assets/ui.css" in page
    assert 'id="jobs-config"' in page


def test_job_list_filters_by_status_and_pipeline_name(client: Client, db: None) -> None:
    make_job("filterjob001", pipeline="alpha", status=JobStatus.COMPLETED)
    make_job("filterjob002", pipeline="beta", status=JobStatus.FAILED)
    make_job("filterjob003", pipeline="alphabet", status=JobStatus.FAILED)

    page = client.get("/jobs/?status=failed").content.decode()
    assert "filterjob001" not in page
    assert "filterjob002" in page and "filterjob003" in page
    assert '<option value="failed" selected>' in page

    data = client.get("/jobs/list.json?pipeline=ALPHA").json()
    assert {row["jobId"] for row in data["jobs"]} == {"filterjob001", "filterjob003"}
    assert data["filters"] == {"status": "", "pipeline": "ALPHA"}

    data = client.get("/jobs/list.json?status=failed&pipeline=alpha").json()
    assert [row["jobId"] for row in data["jobs"]] == ["filterjob003"]
    row = data["jobs"][0]
    assert set(row) >= {"jobId", "pipeline", "status", "progress", "startTime", "durationMs"}

    # An unknown status is ignored, not an error.
    assert len(client.get("/jobs/list.json?status=bogus").json()["jobs"]) == 3


def test_job_list_computes_the_progress_of_a_running_job(
    client: Client, db: None, real_redis: redis.Redis
) -> None:
    job = make_job("livejob00001", status=JobStatus.ACTIVE)
    JobNode.objects.create(job=job, node_name="first", status=NodeStatus.SUCCEED, position=0)
    JobNode.objects.create(job=job, node_name="second", status=NodeStatus.ACTIVE, position=1, level=1)
    rc.add_active(job.job_id, "second", 1)
    row = client.get("/jobs/list.json").json()["jobs"][0]
    assert row["jobId"] == "livejob00001"
    assert row["status"] == "active"
    assert row["progress"] == 0  # nodes without task rows: 1 creating, 1 active


def test_job_page_has_the_header_graph_container_scripts_and_links(client: Client, db: None) -> None:
    make_job(
        "pagejob00001",
        status=JobStatus.FAILED,
        start_time=1_000,
        end_time=2_000,
        error="node second failed: boom",
        error_node="second",
        status_data={"progress": 50, "states": {"succeed": 1, "failed": 1}, "details": "50% completed"},
    )
    response = client.get("/jobs/pagejob00001/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "pagejob00001" in page
    assert "alpha" in page
    assert '<svg id="graph"' in page
    assert 'id="nodes-body"' in page
    assert "/jobs/assets/job.js" in page and "/jobs/assets/common.js" in page
    assert 'id="job-config"' in page and '"jobId": "pagejob00001"' in page
    assert "/api/v1/exec/results/pagejob00001" in page
    assert "/admin/pipelines/job/pagejob00001/change/" in page
    assert "second: node second failed: boom" in page
    assert "width: 50%" in page
    assert "status-failed" in page


def test_job_page_of_an_unknown_job_is_a_404(client: Client, db: None) -> None:
    assert client.get("/jobs/nosuchjob/").status_code == 404


def test_job_page_escapes_user_text(client: Client, db: None) -> None:
    make_job("escapejob001", pipeline="<script>alert(1)</script>", status=JobStatus.FAILED, error="<b>x</b>")
    page = client.get("/jobs/escapejob001/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "<b>x</b>" not in page


def test_assets_are_served_from_the_app_and_nothing_else_is(client: Client) -> None:
    for name, kind in (("job.js", "javascript"), ("jobs.js", "javascript"), ("ui.css", "text/css")):
        response = client.get(f"/jobs/assets/{name}")
        assert response.status_code == 200, name
        assert kind in response["Content-Type"]
        assert b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert client.get("/jobs/assets/missing.js").status_code == 404
    assert client.get("/jobs/assets/..%2Fsettings.py").status_code == 404
    assert client.get("/jobs/assets/admin.css").status_code == 404
