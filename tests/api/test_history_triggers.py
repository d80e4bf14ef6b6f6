"""`cron/*`, `pipelines/triggers/tree`, `exec/tree` and `webhooks/*` through the REST API."""

from __future__ import annotations

from typing import Any

from django_celery_beat.models import PeriodicTask

from pipelines import stored_triggers, webhooks
from pipelines.models import Pipeline, TriggerKind, TriggerRun
from tests.api.conftest import Api


def stored(name: str, *, listens: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "name": name,
        "nodes": [{"nodeName": "a", "algorithmName": "green-alg", "input": []}],
        **extra,
    }
    if listens is not None:
        descriptor["triggers"] = {"pipelines": listens}
    return descriptor


def store(api: Api, descriptor: dict[str, Any]) -> None:
    status, body = api.post("store/pipelines", descriptor)
    assert status == 201, body


# --- cron ------------------------------------------------------------------------------------


def test_cron_start_enables_the_default_pattern_and_schedules_it(api: Api) -> None:
    store(api, stored("nightly"))
    assert api.post("cron/start", {"name": "nightly"}) == (200, {"message": "OK"})

    _, pipeline = api.get("store/pipelines/nightly")
    assert pipeline["triggers"]["cron"] == {"enabled": True, "pattern": "0 * * * *"}
    assert api.get("cron/list") == (
        200,
        [{"name": "nightly", "cron": {"enabled": True, "pattern": "0 * * * *"}}],
    )
    task = PeriodicTask.objects.get(name="hkube cron: nightly")
    assert task.enabled and task.task == "pipelines.triggers.run_cron" and task.queue == "events"
    assert task.crontab is not None
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "*", "*")


def test_cron_start_with_a_pattern_replaces_it_and_stop_keeps_it_disabled(api: Api) -> None:
    store(api, stored("often", triggers={"cron": {"pattern": "0 0 * * *"}}))
    api.post("cron/start", {"name": "often", "pattern": "*/5 * * * *"})
    assert PeriodicTask.objects.get(name="hkube cron: often").crontab.minute == "*/5"  # type: ignore[union-attr]

    assert api.post("cron/stop", {"name": "often"}) == (200, {"message": "OK"})
    assert api.get("cron/list")[1] == [
        {"name": "often", "cron": {"pattern": "*/5 * * * *", "enabled": False}}
    ]
    assert not PeriodicTask.objects.get(name="hkube cron: often").enabled

    api.post("cron/start", {"name": "often"})  # the stored pattern is kept
    assert api.get("store/pipelines/often")[1]["triggers"]["cron"] == {
        "pattern": "*/5 * * * *",
        "enabled": True,
    }


def test_cron_requests_are_validated(api: Api) -> None:
    assert api.error("post", "cron/start", {}) == (400, "data should have required property 'name'")
    assert api.error("post", "cron/start", {"name": "p1", "pattern": "every day"}) == (
        400,
        'data.pattern should match format "cron"',
    )
    assert api.error("post", "cron/start", {"name": "nope"}) == (404, "pipeline nope Not Found")
    assert api.error("post", "cron/stop", {"name": "nope"}) == (404, "pipeline nope Not Found")


def test_reconcile_mirrors_stored_crons_into_beat_and_drops_deleted_ones(api: Api) -> None:
    # Stored directly: whatever the call sites do, the reconcile loop catches up.
    store(api, stored("six-fields", triggers={"cron": {"pattern": "30 */2 * * * 1-5", "enabled": True}}))
    store(api, stored("no-cron"))
    stored_triggers.reconcile_crons()
    task = PeriodicTask.objects.get(name="hkube cron: six-fields")
    assert task.crontab is not None
    # Beat has no seconds: the seconds field is dropped, the job fires once in each minute.
    assert (task.crontab.minute, task.crontab.day_of_week) == ("*/2", "1-5")
    assert not PeriodicTask.objects.filter(name="hkube cron: no-cron").exists()

    api.client.delete("/api/v1/store/pipelines/six-fields")
    stored_triggers.reconcile_crons()
    assert not PeriodicTask.objects.filter(task=stored_triggers.CRON_TASK).exists()


# --- triggers tree ---------------------------------------------------------------------------


def test_triggers_tree_needs_some_pipeline_with_triggers(api: Api) -> None:
    store(api, stored("alone"))
    assert api.error("get", "pipelines/triggers/tree") == (400, "unable to find any pipeline with triggers")


def test_triggers_tree_starts_from_the_pipelines_nothing_triggers(api: Api) -> None:
    for descriptor in (
        stored("a"),
        stored("b", listens=["a"]),
        stored("c", listens=["a"]),
        stored("d", listens=["b", "c"]),
    ):
        store(api, descriptor)
    d = {"name": "d", "children": []}
    assert api.get("pipelines/triggers/tree") == (
        200,
        [{"name": "a", "children": [{"name": "b", "children": [d]}, {"name": "c", "children": [d]}]}],
    )
    assert api.get("pipelines/triggers/tree?name=c") == (200, [{"name": "c", "children": [d]}])
    assert api.error("get", "pipelines/triggers/tree?name=zzz") == (404, "triggers tree zzz Not Found")


def test_a_cyclic_trigger_graph_is_reported_by_the_tree(api: Api) -> None:
    Pipeline.objects.create(name="x", descriptor=stored("x", listens=["y"]), version="v")
    Pipeline.objects.create(name="y", descriptor=stored("y", listens=["x"]), version="v")
    assert api.error("get", "pipelines/triggers/tree") == (400, "the pipelines triggers is cyclic")


def test_storing_a_pipeline_that_closes_a_trigger_cycle_is_refused(api: Api) -> None:
    store(api, stored("first", listens=["second"]))
    assert api.error("post", "store/pipelines", stored("second", listens=["first"])) == (
        400,
        "the pipelines triggers is cyclic",
    )
    assert api.error("post", "store/pipelines", stored("self", listens=["self"])) == (
        400,
        "the pipelines triggers is cyclic",
    )
    store(api, stored("second"))
    assert api.error("put", "store/pipelines", stored("second", listens=["first"])) == (
        400,
        "the pipelines triggers is cyclic",
    )


# --- exec/tree and webhooks ----------------------------------------------------------------------


def test_exec_tree_is_built_from_the_jobs_triggers_started(api: Api) -> None:
    assert api.error("get", "exec/tree/nojob") == (404, "tree nojob Not Found")
    for source, name, job_id in (("root", "b", "job-b"), ("root", "c", "job-c"), ("job-b", "d", "job-d")):
        TriggerRun.objects.create(
            kind=TriggerKind.PIPELINE, source=source, pipeline_name=name, job_id=job_id, root_job_id="root"
        )
    _, tree = api.get("exec/tree/root")
    assert tree == {
        "name": "",
        "jobId": "root",
        "children": [
            {"name": "b", "jobId": "job-b", "children": [{"name": "d", "jobId": "job-d", "children": []}]},
            {"name": "c", "jobId": "job-c", "children": []},
        ],
    }


def test_webhook_records_are_not_found_until_a_delivery(api: Api) -> None:
    for path in ("webhooks/status/nojob", "webhooks/results/nojob", "webhooks/list/nojob"):
        assert api.error("get", path) == (404, "webhook nojob Not Found")


def test_webhook_records_have_hkubes_shape(api: Api) -> None:
    ok = webhooks.Outcome(True, 200, "", "OK", retryable=False)
    webhooks.record("job1", "result", "http://hook/result", "completed", ok, 1, 10)
    refused = webhooks.Outcome(False, None, "ECONNREFUSED", "[Errno 111] Connection refused", retryable=True)
    webhooks.record("job1", "progress", "http://hook/progress", "active", refused, 3, 5)

    _, result = api.get("webhooks/results/job1")
    assert result == {
        "jobId": "job1", "url": "http://hook/result", "pipelineStatus": "completed", "status": "completed",
        "responseStatus": "succeed", "httpResponse": {"statusCode": 200, "statusMessage": "OK"},
        "timestamp": result["timestamp"],
    }  # fmt: skip
    _, progress = api.get("webhooks/status/job1")
    assert progress["responseStatus"] == "failed"
    assert progress["httpResponse"] == {
        "statusCode": "ECONNREFUSED",
        "statusMessage": "[Errno 111] Connection refused",
    }
    assert api.get("webhooks/list/job1") == (200, {"jobId": "job1", "result": result, "progress": progress})
