"""Deleting an algorithm: its stored pipelines and running jobs go through pipelines' services."""

from __future__ import annotations

import pytest

from hkube_site.errors import ActionNotAllowed
from pipelines import services
from pipelines.models import Job, JobStatus, Pipeline
from tests.api.conftest import Api


def pipeline_of(algorithm: str, name: str = "uses-green") -> dict[str, object]:
    return {"name": name, "nodes": [{"nodeName": "a", "algorithmName": algorithm, "input": []}]}


def running_job(algorithm: str, job_id: str = "job-1") -> Job:
    descriptor = pipeline_of(algorithm)
    return Job.objects.create(
        job_id=job_id,
        pipeline_name="uses-green",
        pipeline=descriptor,
        user_pipeline=descriptor,
        status=JobStatus.ACTIVE,
    )


def test_an_algorithm_in_use_is_not_removed_without_force(api: Api) -> None:
    services.store_pipeline(pipeline_of("green-alg"))
    running_job("green-alg")
    with pytest.raises(ActionNotAllowed) as caught:
        services.remove_algorithm_pipelines("green-alg", force=False)
    assert caught.value.message == (
        "algorithm green-alg is stored in 1 pipelines (uses-green), 1 executions (job-1). "
        "you must first delete all related data or use the force flag"
    )
    assert Pipeline.objects.filter(name="uses-green").exists()
    assert Job.objects.get(job_id="job-1").status == JobStatus.ACTIVE


def test_force_stops_the_jobs_and_deletes_the_pipelines_of_the_algorithm(api: Api) -> None:
    services.store_pipeline(pipeline_of("green-alg"))
    services.store_pipeline(pipeline_of("yellow-alg", name="uses-yellow"))
    running_job("green-alg")
    removed = services.remove_algorithm_pipelines("green-alg", force=True)
    assert (removed.pipelines, removed.jobs) == (["uses-green"], ["job-1"])
    assert list(Pipeline.objects.values_list("name", flat=True)) == ["uses-yellow"]
    job = Job.objects.get(job_id="job-1")
    assert (job.status, job.reason) == (JobStatus.STOPPED, "algorithm green-alg has been deleted")


def test_an_unused_algorithm_is_removed_without_force(api: Api) -> None:
    assert services.remove_algorithm_pipelines("green-alg", force=False) == services.RemovedUsage()


def test_deleting_the_algorithm_through_the_api_reports_its_pipelines(api: Api) -> None:
    services.store_pipeline(pipeline_of("green-alg"))
    refused = api.client.delete("/api/v1/store/algorithms/green-alg")
    assert refused.status_code == 400
    assert Pipeline.objects.filter(name="uses-green").exists()
    response = api.client.delete("/api/v1/store/algorithms/green-alg?force=true")
    assert response.status_code == 200
    assert response.json()["message"] == (
        "algorithm green-alg successfully deleted from store. related data deleted: "
        "0 builds, 0 versions, 1 pipelines"
    )
    assert not Pipeline.objects.exists()
