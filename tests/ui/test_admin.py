"""The admin as the control room, through Django's client: every form and action goes
through the services (the API's validation and messages), nothing writes rows itself.
Messages leave after commit and a test never commits, so nothing is sent."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from algorithms.models import Algorithm, AlgorithmVersion
from builds.models import Build, BuildStatus
from pipelines import services
from pipelines.models import Job, JobStatus, Pipeline

GOOD = {
    "name": "adm",
    "nodes": [
        {"nodeName": "one", "algorithmName": "green-alg", "input": ["@flowInput.x"]},
        {"nodeName": "two", "algorithmName": "green-alg", "input": ["@one"]},
    ],
    "flowInput": {"x": 1},
}


@pytest.fixture
def green(db: None) -> Algorithm:
    return Algorithm.objects.create(
        name="green-alg",
        descriptor={"name": "green-alg", "algorithmImage": "hkube/green-alg", "cpu": 0.1, "mem": "256Mi"},
        version="v1",
    )


def field_errors(html: str, field: str) -> list[str]:
    """The messages Django's admin puts in the form row of `field`."""
    row = re.search(rf'<div class="form-row[^"]*field-{field}[^"]*">(.*?)</div>\s*</div>', html, re.S)
    assert row, f"no row for {field}"
    return re.findall(r"<li>(.*?)</li>", row.group(1), re.S)


def test_a_pipeline_with_an_error_gets_hkubes_message_next_to_its_descriptor(
    admin_client: Client, green: Algorithm
) -> None:
    broken = {**GOOD, "nodes": [GOOD["nodes"][0], {**GOOD["nodes"][1], "input": ["@nowhere"]}]}
    response = admin_client.post("/admin/pipelines/pipeline/add/", {"descriptor_text": json.dumps(broken)})
    assert response.status_code == 200
    errors = field_errors(response.content.decode(), "descriptor_text")
    assert errors and "nowhere" in errors[0] and "two" in errors[0], errors
    assert not Pipeline.objects.exists()


def test_yaml_that_is_not_an_object_is_refused_next_to_the_field(admin_client: Client, db: None) -> None:
    response = admin_client.post("/admin/pipelines/pipeline/add/", {"descriptor_text": "- just\n- a list\n"})
    errors = field_errors(response.content.decode(), "descriptor_text")
    assert errors == ["the descriptor should be an object (a mapping of keys to values)"]


def test_a_fixed_pipeline_is_stored_by_the_service_with_hkubes_defaults(
    admin_client: Client, green: Algorithm
) -> None:
    yaml_text = (
        "name: adm\nnodes:\n  - nodeName: one\n    algorithmName: green-alg\n    input: ['@flowInput.x']\n"
    )
    response = admin_client.post("/admin/pipelines/pipeline/add/", {"descriptor_text": yaml_text})
    assert response.status_code == 302, response.content.decode()[:2000]
    stored = Pipeline.objects.get(name="adm")
    assert stored.version and stored.audit_trail[0]["version"] == stored.version
    assert stored.descriptor["priority"] == 3  # HKube's default, added by the schema
    page = admin_client.get(f"/admin/pipelines/pipeline/{stored.pk}/change/").content.decode()
    preview = json.loads(re.search(r'id="hk-preview"[^>]*>(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert [n["nodeName"] for n in preview["nodes"]] == ["one"]
    assert "graph.js" in page and f"/admin/pipelines/pipeline/{stored.pk}/run/" in page


def test_run_submits_the_stored_pipeline_with_the_given_flow_input(
    admin_client: Client, green: Algorithm
) -> None:
    stored = services.store_pipeline(GOOD)
    response = admin_client.post(f"/admin/pipelines/pipeline/{stored.pk}/run/", {"flow_input": '{"x": 7}'})
    assert response.status_code == 302
    job = Job.objects.get()
    assert response["Location"] == f"/admin/pipelines/job/{job.job_id}/change/"
    assert job.types == ["stored"] and job.pipeline_name == "adm"
    assert services.load_flow_input(job) == {"x": 7}


def test_run_with_a_bad_flow_input_says_so_and_starts_nothing(admin_client: Client, green: Algorithm) -> None:
    stored = services.store_pipeline(GOOD)
    response = admin_client.post(f"/admin/pipelines/pipeline/{stored.pk}/run/", {"flow_input": "{x: [1"})
    assert response.status_code == 200
    assert "flowInput is not valid YAML or JSON" in response.content.decode()
    assert not Job.objects.exists()


def test_job_actions_go_through_the_services(admin_client: Client, green: Algorithm) -> None:
    job = services.submit_job(GOOD, types=["raw"])
    services.start_job(job.job_id)
    page = admin_client.get(f"/admin/pipelines/job/{job.job_id}/change/").content.decode()
    assert 'id="graph"' in page and "admin-job.js" in page and "graph.js" in page
    # The admin's change page is one form: the actions are its buttons, never nested forms.
    assert f'formaction="/admin/pipelines/job/{job.job_id}/do/stop/"' in page
    live = page[page.index('id="hk-live"') : page.index("</fieldset>", page.index('id="hk-live"'))]
    assert "<form" not in live

    admin_client.post(f"/admin/pipelines/job/{job.job_id}/do/pause/")
    assert Job.objects.get(job_id=job.job_id).status == JobStatus.PAUSED
    admin_client.post(f"/admin/pipelines/job/{job.job_id}/do/stop/")
    assert Job.objects.get(job_id=job.job_id).status == JobStatus.STOPPED
    response = admin_client.post(f"/admin/pipelines/job/{job.job_id}/do/resume/", follow=True)
    assert "because its in stopped status" in response.content.decode()

    admin_client.post(f"/admin/pipelines/job/{job.job_id}/do/rerun/")
    rerun = Job.objects.exclude(job_id=job.job_id).get()
    assert "rerun" in rerun.types


def test_job_list_filters_by_experiment_and_start_time(admin_client: Client, green: Algorithm) -> None:
    fresh = services.submit_job(GOOD, types=["raw"])
    old = services.submit_job(GOOD, types=["raw"])
    Job.objects.filter(job_id=old.job_id).update(start_time=1000)
    page = admin_client.get("/admin/pipelines/job/?started=24h&experiment=main").content.decode()
    assert fresh.job_id in page and old.job_id not in page


def test_an_algorithm_is_applied_with_an_image_and_a_version_made_current(
    admin_client: Client, db: None
) -> None:
    text = json.dumps({"name": "img-alg", "cpu": 0.5})
    response = admin_client.post(
        "/admin/algorithms/algorithm/add/",
        {"descriptor_text": text, "image": "hkube/img:1", "make_current": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    algorithm = Algorithm.objects.get(name="img-alg")
    assert algorithm.descriptor["algorithmImage"] == "hkube/img:1" and algorithm.descriptor["mem"] == "256Mi"
    first = algorithm.version

    text = json.dumps({"name": "img-alg", "cpu": 1})
    admin_client.post(f"/admin/algorithms/algorithm/{algorithm.pk}/change/", {"descriptor_text": text})
    second = AlgorithmVersion.objects.exclude(version=first).get(algorithm_name="img-alg")
    assert Algorithm.objects.get(name="img-alg").version == first  # not forced: waits beside it

    admin_client.post(f"/admin/algorithms/algorithm/{algorithm.pk}/current/", {"version": second.version})
    assert Algorithm.objects.get(name="img-alg").version == second.version


def test_an_algorithm_descriptor_error_is_the_apis_message(admin_client: Client, db: None) -> None:
    response = admin_client.post(
        "/admin/algorithms/algorithm/add/", {"descriptor_text": json.dumps({"name": "x-alg", "cpu": "lots"})}
    )
    errors = field_errors(response.content.decode(), "descriptor_text")
    assert errors and "cpu" in errors[0], errors
    assert not Algorithm.objects.exists()


def test_a_build_is_stopped_and_rebuilt_through_the_build_services(admin_client: Client, db: None) -> None:
    Build.objects.create(
        build_id="b-1", algorithm_name="x", env="python", status=BuildStatus.ACTIVE, algorithm={}
    )
    page = admin_client.get("/admin/builds/build/b-1/change/").content.decode()
    assert 'id="build-log"' in page and "/api/v1/builds/status/b-1" in page
    admin_client.post("/admin/builds/build/b-1/do/stop/")
    assert Build.objects.get().status == BuildStatus.STOPPED
    admin_client.post("/admin/builds/build/b-1/do/rerun/")
    assert Build.objects.get().status == BuildStatus.PENDING


def test_the_executor_view_lists_queue_depths_and_workers(
    admin_client: Client, green: Algorithm, real_redis: object
) -> None:
    page = admin_client.get("/admin/algorithms/algorithm/executor/").content.decode()
    assert "green-alg" in page and 'id="hk-executor-table"' in page


def test_re_run_from_a_node_starts_a_job_of_that_node_and_its_descendants(
    admin_client: Client, green: Algorithm
) -> None:
    old = services.submit_job(GOOD, types=["raw"])
    services.start_job(old.job_id)
    response = admin_client.post(f"/admin/pipelines/job/{old.job_id}/from-node/", {"node_name": "two"})
    new = Job.objects.exclude(job_id=old.job_id).get()
    assert response["Location"] == f"/admin/pipelines/job/{new.job_id}/change/"
    assert [n["nodeName"] for n in new.pipeline["nodes"]] == ["two"]

    admin_client.post(f"/admin/pipelines/job/{old.job_id}/from-node/", {"node_name": "nowhere"})
    assert Job.objects.count() == 2  # a node the job does not have is refused by the form
