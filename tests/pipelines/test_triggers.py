"""Triggers in process: cron patterns, the cycle check, and jobs started exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from hkube_site.errors import InvalidData
from hkube_site.object_store import get_storage
from pipelines import services, stored_triggers, triggers
from pipelines.models import Job, Pipeline, TriggerRun
from storage import paths


@pytest.mark.parametrize(
    ("pattern", "fields"),
    [
        ("0 * * * *", ("0", "*", "*", "*", "*")),
        ("*/5 1-3 * 1,6 mon-fri", ("*/5", "1-3", "*", "1,6", "mon-fri")),
        ("20,40 * * * * 0,1,2", ("*", "*", "*", "*", "0,1,2")),  # seconds dropped
        ("0 12 ? * *", ("0", "12", "*", "*", "*")),
    ],
)
def test_cron_patterns_become_beat_crontabs(pattern: str, fields: tuple[str, ...]) -> None:
    names = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    assert stored_triggers.crontab_fields(pattern) == dict(zip(names, fields, strict=True))


def test_a_pattern_beat_cannot_express_is_not_scheduled() -> None:
    assert stored_triggers.crontab_fields("0 0 L * *") is None
    assert stored_triggers.crontab_fields("* * *") is None


def test_the_parent_results_are_merged_into_the_stored_flow_input() -> None:
    stored = {"own": 1, "parent": [{"keep": True}, {"x": 1}]}
    merged = triggers.merge_flow_input(stored, {"parent": [{"result": 5}]})
    assert merged == {"own": 1, "parent": [{"keep": True, "result": 5}, {"x": 1}]}
    assert stored["parent"] == [{"keep": True}, {"x": 1}]  # untouched
    assert triggers.merge_flow_input(None, {"parent": []}) == {"parent": []}


def store(name: str, listens: list[str] | None = None, **extra: Any) -> Pipeline:
    descriptor: dict[str, Any] = {
        "name": name,
        "nodes": [{"nodeName": "a", "algorithmName": "green-alg", "input": ["@flowInput.parent"]}],
        **extra,
    }
    if listens is not None:
        descriptor["triggers"] = {"pipelines": listens}
    return services.store_pipeline(descriptor)


def test_cycles_are_found_through_any_path(algorithm: str) -> None:
    store("a")
    store("b", ["a"])
    store("c", ["b"])
    stored_triggers.check_trigger_cycles({"name": "d", "triggers": {"pipelines": ["c"]}})
    with pytest.raises(InvalidData, match="the pipelines triggers is cyclic"):
        stored_triggers.check_trigger_cycles({"name": "a", "triggers": {"pipelines": ["c"]}})
    with pytest.raises(InvalidData, match="the pipelines triggers is cyclic"):
        stored_triggers.check_trigger_cycles({"name": "lonely", "triggers": {"pipelines": ["lonely"]}})


def completed_job(job_id: str, name: str, data: list[dict[str, Any]], **extra: Any) -> Job:
    path = paths.job_result(services.cluster(), job_id)
    get_storage().put(path, data)
    return Job.objects.create(
        job_id=job_id, pipeline_name=name, pipeline={"name": name}, user_pipeline={}, status="completed",
        start_time=1, end_time=2, status_timestamp=2,
        result={"startTime": 1, "pipeline": name, "status": "completed",
                "data": {"storageInfo": {"path": path}}, "timestamp": 2, "timeTook": 0.001},
        **extra,
    )  # fmt: skip


def test_a_completed_job_starts_its_listeners_once(algorithm: str) -> None:
    store("parent")
    store("child", ["parent"], flowInput={"own": 1})
    store("unrelated")
    data = [{"nodeName": "a", "algorithmName": "green-alg", "result": 42}]
    completed_job("job-parent", "parent", data, root_job_id=None)

    started = triggers.on_job_finished("job-parent")
    assert len(started) == 1
    child = Job.objects.get(job_id=started[0])
    assert child.pipeline_name == "child"
    assert child.types == ["internal", "stored", "trigger"]
    assert (child.parent_job_id, child.root_job_id) == ("job-parent", "job-parent")
    assert services.load_flow_input(child) == {"own": 1, "parent": data}

    assert triggers.on_job_finished("job-parent") == []  # a redelivered event
    assert Job.objects.filter(pipeline_name="child").count() == 1
    child_node = {"name": "child", "jobId": started[0], "children": []}
    assert triggers.job_tree("job-parent") == {
        "name": "parent",
        "jobId": "job-parent",
        "children": [child_node],
    }


def test_a_triggered_job_keeps_the_root_of_its_chain(algorithm: str) -> None:
    store("second")
    store("third", ["second"])
    completed_job("job-second", "second", [], root_job_id="job-first")
    [third] = triggers.on_job_finished("job-second")
    assert Job.objects.get(job_id=third).root_job_id == "job-first"


def test_failed_jobs_trigger_nothing(algorithm: str) -> None:
    store("fails")
    store("after", ["fails"])
    Job.objects.create(
        job_id="job-failed", pipeline_name="fails", pipeline={}, user_pipeline={}, status="failed",
        result={"status": "failed", "error": "boom"},
    )  # fmt: skip
    assert triggers.on_job_finished("job-failed") == []
    assert not TriggerRun.objects.exists()


def test_a_refused_trigger_is_recorded_not_raised(algorithm: str) -> None:
    store("src")
    store("needs-x", ["src"])
    Pipeline.objects.filter(name="needs-x").update(
        descriptor={"name": "needs-x", "nodes": [{"nodeName": "a", "algorithmName": "gone-alg"}],
                    "triggers": {"pipelines": ["src"]}}
    )  # fmt: skip
    completed_job("job-src", "src", [])
    assert triggers.on_job_finished("job-src") == []
    assert TriggerRun.objects.get(pipeline_name="needs-x").error == "algorithm gone-alg Not Found"


def test_a_cron_tick_submits_the_stored_pipeline_once(algorithm: str) -> None:
    store("ticking", flowInput={"parent": 7}, triggers={"cron": {"pattern": "* * * * *", "enabled": True}})
    job_id = triggers.fire_cron("ticking", tick_id="tick-1")
    assert job_id is not None
    job = Job.objects.get(job_id=job_id)
    assert job.types == ["stored", "internal", "cron"]
    assert services.load_flow_input(job) == {"parent": 7}
    assert triggers.fire_cron("ticking", tick_id="tick-1") is None  # redelivered tick
    assert triggers.fire_cron("ticking", tick_id="tick-2") is not None


def test_a_disabled_cron_tick_does_nothing(algorithm: str) -> None:
    store("paused", flowInput={"parent": 1}, triggers={"cron": {"pattern": "* * * * *", "enabled": False}})
    assert triggers.fire_cron("paused", tick_id="t") is None
    assert triggers.fire_cron("deleted", tick_id="t") is None
