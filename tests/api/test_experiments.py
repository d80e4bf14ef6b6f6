"""`/experiment`: list, get, create, delete; jobs refused in an unknown experiment; deleting
an experiment stops its crons and removes its jobs' history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hkube_site.object_store import get_storage
from pipelines.models import Experiment, Job, JobStatus, Pipeline, WebhookDelivery
from tests.api.conftest import Api

PIPELINE = {"name": "p1", "nodes": [{"nodeName": "a", "algorithmName": "green-alg", "input": []}]}


def make_job(job_id: str, experiment: str, status: str = JobStatus.COMPLETED) -> Job:
    return Job.objects.create(
        job_id=job_id,
        pipeline_name="p1",
        experiment=experiment,
        pipeline={**PIPELINE, "experimentName": experiment},
        user_pipeline={},
        types=["raw"],
        status=status,
        start_time=1_000,
        status_timestamp=2_000,
        end_time=None if status in ("active", "pending") else 2_000,
    )


@pytest.mark.parametrize("prefix", ["/api/v1/", "/hkube/api-server/api/v1/"])
@pytest.mark.parametrize("slash", ["", "/"])
def test_the_main_experiment_is_always_listed(api: Api, prefix: str, slash: str) -> None:
    response = api.client.get(f"{prefix}experiment{slash}")
    assert response.status_code == 200
    assert [e["name"] for e in response.json()] == ["main"]
    assert set(response.json()[0]) == {"name", "description", "created"}


def test_an_experiment_is_created_listed_and_read(api: Api) -> None:
    assert api.post("experiment", {"name": "exp-1", "description": "first"}) == (
        200,
        {"message": "OK", "name": "exp-1"},
    )
    status, body = api.get("experiment/exp-1")
    assert status == 200
    assert (body["name"], body["description"]) == ("exp-1", "first")
    assert isinstance(body["created"], int)
    assert [e["name"] for e in api.get("experiment")[1]] == ["main", "exp-1"]


def test_posting_an_existing_experiment_updates_its_description(api: Api) -> None:
    api.post("experiment", {"name": "exp-1", "description": "first"})
    api.post("experiment", {"name": "exp-1", "description": "second"})
    assert api.get("experiment/exp-1")[1]["description"] == "second"
    assert Experiment.objects.filter(name="exp-1").count() == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "data should have required property 'name'"),
        ({"name": "bad name!"}, "experiment name must contain only alphanumeric, dash, dot or underscore"),
        ({"name": "x" * 33}, "data.name should NOT be longer than 32 characters"),
        ({"name": "ok", "description": {"a": 1}}, "data.description should be string"),
    ],
)
def test_a_bad_experiment_is_refused_naming_the_field(api: Api, body: dict[str, Any], message: str) -> None:
    assert api.error("post", "experiment", body) == (400, message)


def test_unknown_experiments_are_not_found(api: Api) -> None:
    assert api.error("get", "experiment/nope") == (404, "experiment nope Not Found")
    response = api.client.delete("/api/v1/experiment/nope")
    assert (response.status_code, response.json()["error"]["message"]) == (404, "experiment nope Not Found")


def test_main_cannot_be_deleted(api: Api) -> None:
    response = api.client.delete("/api/v1/experiment/main")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": 400, "message": "main experiment cannot be deleted"}}


def test_a_job_in_an_unknown_experiment_is_refused(api: Api) -> None:
    body = {**PIPELINE, "experimentName": "nope"}
    assert api.error("post", "exec/raw", body) == (404, "experiment nope Not Found")
    assert not Job.objects.exists()
    api.post("experiment", {"name": "nope"})
    status, result = api.post("exec/raw", body)
    assert status == 200, result
    assert Job.objects.get(job_id=result["jobId"]).experiment == "nope"


def test_deleting_an_experiment_removes_its_finished_jobs_and_their_data(
    api: Api, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    api.post("experiment", {"name": "exp-1"})
    make_job("job-exp", "exp-1")
    make_job("job-main", "main")
    WebhookDelivery.objects.create(job_id="job-exp", kind="result", url="http://x")
    storage = get_storage()
    for path in ("local-hkube/job-exp/task-1", "local-hkube-results/job-exp/result.json"):
        storage.put(path, {"v": 1})
    storage.put("local-hkube/job-main/task-1", {"v": 1})

    with django_capture_on_commit_callbacks(execute=True):
        response = api.client.delete("/api/v1/experiment/exp-1/")
    assert response.status_code == 200
    assert response.json() == {"message": "deleted successfully", "name": "exp-1"}
    assert list(Job.objects.values_list("job_id", flat=True)) == ["job-main"]
    assert not WebhookDelivery.objects.exists()
    assert storage.adapter.list("local-hkube/job-exp") == []
    assert storage.adapter.list("local-hkube-results/job-exp") == []
    assert storage.adapter.list("local-hkube/job-main") == ["local-hkube/job-main/task-1"]
    assert api.error("get", "experiment/exp-1") == (404, "experiment exp-1 Not Found")


def test_deleting_an_experiment_stops_its_running_jobs_and_crons(api: Api) -> None:
    api.post("experiment", {"name": "exp-1"})
    make_job("job-running", "exp-1", JobStatus.ACTIVE)
    cron = {"cron": {"enabled": True, "pattern": "0 * * * *"}}
    for name, experiment in (("in-exp", "exp-1"), ("in-main", "main")):
        body = {**PIPELINE, "name": name, "experimentName": experiment, "triggers": cron}
        assert api.post("store/pipelines", body)[0] == 201

    assert api.client.delete("/api/v1/experiment/exp-1").status_code == 200
    job = Job.objects.get(job_id="job-running")
    assert (job.status, job.reason) == (JobStatus.STOPPED, "experiment has been deleted")
    crons = {p.name: p.descriptor["triggers"]["cron"]["enabled"] for p in Pipeline.objects.all()}
    assert crons == {"in-exp": False, "in-main": True}
