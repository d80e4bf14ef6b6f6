"""The admin's pipeline triggers on/off: while off, a completed parent starts nothing; the
flag lives beside the descriptor, so the HKube document and its version do not change."""

from __future__ import annotations

import pytest
from django.test import Client

from hkube_site.errors import NotFound
from pipelines import services, triggers
from pipelines.models import Job, Pipeline
from tests.pipelines.test_triggers import completed_job, store

DATA = [{"nodeName": "a", "algorithmName": "green-alg", "result": 1}]
CHANGELIST = "/admin/pipelines/pipeline/"


def test_a_child_with_its_triggers_off_is_not_started(algorithm: str) -> None:
    store("parent")
    child = store("child", ["parent"])
    store("sibling", ["parent"])
    services.set_pipeline_triggers("child", enabled=False)
    assert Pipeline.objects.get(name="child").version == child.version  # not a new version
    assert "triggersEnabled" not in Pipeline.objects.get(name="child").as_api()

    completed_job("job-1", "parent", DATA)
    started = triggers.on_job_finished("job-1")
    assert [Job.objects.get(job_id=j).pipeline_name for j in started] == ["sibling"]

    services.set_pipeline_triggers("child", enabled=True)
    completed_job("job-2", "parent", DATA)
    started = triggers.on_job_finished("job-2")
    assert sorted(Job.objects.get(job_id=j).pipeline_name for j in started) == ["child", "sibling"]


def test_an_unknown_pipeline_is_not_found(algorithm: str) -> None:
    with pytest.raises(NotFound, match="pipeline nope Not Found"):
        services.set_pipeline_triggers("nope", enabled=False)


def test_the_admin_turns_pipeline_triggers_off_and_on(algorithm: str, admin_client: Client) -> None:
    store("parent")
    child = store("child", ["parent"])
    page = admin_client.get(CHANGELIST).content.decode()
    assert "on (parent)" in page and "Turn the pipeline triggers off" in page

    action = {"action": "pipeline_triggers_off", "_selected_action": [str(child.pk)]}
    response = admin_client.post(CHANGELIST, action, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["child: pipeline triggers off"]
    assert Pipeline.objects.get(name="child").triggers_enabled is False
    assert "off (parent)" in admin_client.get(CHANGELIST).content.decode()
    completed_job("job-1", "parent", DATA)
    assert triggers.on_job_finished("job-1") == []

    admin_client.post(CHANGELIST, {**action, "action": "pipeline_triggers_on"}, follow=True)
    assert Pipeline.objects.get(name="child").triggers_enabled is True
    # Saving the descriptor in the admin keeps the flag (the form writes no field of its own).
    services.set_pipeline_triggers("child", enabled=False)
    services.update_pipeline({**child.descriptor, "description": "edited"})
    assert Pipeline.objects.get(name="child").triggers_enabled is False
