"""exec/algorithm, pause, resume, rerun and caching: HKube's messages and the job they make."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines import services
from pipelines.models import Job, JobNode, JobStatus, NodeStatus, Task, TaskStatus
from pipelines.services import control
from tests.api.conftest import Api


def node(name: str, *inputs: object, algorithm: str = "green-alg") -> dict[str, Any]:
    return {"nodeName": name, "algorithmName": algorithm, "input": list(inputs)}


def submit(api: Api, *nodes: dict[str, Any], **extra: Any) -> str:
    status, body = api.post("exec/raw", {"name": "p1", "nodes": list(nodes), **extra})
    assert status == 200, body
    job_id: str = body["jobId"]
    return job_id


def started(api: Api, *nodes: dict[str, Any], **extra: Any) -> str:
    """A job the driver has started (its entry nodes dispatched; nothing is sent in tests,
    because messages leave after commit and a test never commits)."""
    job_id = submit(api, *nodes, **extra)
    services.start_job(job_id)
    return job_id


def record(job_id: str, node_name: str, batch_index: int = 0) -> None:
    """What an algorithm worker writes when an item ends."""
    Task.objects.create(
        job_id=job_id,
        node_name=node_name,
        task_id=f"t{batch_index}",
        batch_index=batch_index,
        status=TaskStatus.SUCCEED,
        result={"storageInfo": {"path": f"local-hkube/{job_id}/{node_name}"}, "metadata": {}},
    )


def finish(job_id: str, node_name: str, output: dict[str, Any] | None = None) -> None:
    JobNode.objects.filter(job_id=job_id, node_name=node_name).update(
        status=NodeStatus.SUCCEED,
        output=output
        or {"kind": "single", "status": "succeed", "link": {"storageInfo": {"path": node_name}}},
    )


def job(job_id: str) -> Job:
    return Job.objects.get(job_id=job_id)


def nodes(job_id: str) -> dict[str, str]:
    return dict(JobNode.objects.filter(job_id=job_id).values_list("node_name", "status"))


# --- exec/algorithm ----------------------------------------------------------------------------


def test_exec_algorithm_runs_a_one_node_pipeline_named_after_the_algorithm(api: Api) -> None:
    status, body = api.post("exec/algorithm/", {"name": "green-alg", "input": [1, {"a": 2}]})
    assert status == 200, body
    created = job(body["jobId"])
    assert created.types == ["algorithm"]
    assert created.pipeline_name == "green-alg"
    first = created.pipeline["nodes"][0]
    assert {k: first[k] for k in ("nodeName", "algorithmName", "input", "kind")} == {
        "nodeName": "green-alg",
        "algorithmName": "green-alg",
        "input": [1, {"a": 2}],
        "kind": "algorithm",
    }


def test_exec_algorithm_defaults_input_and_marks_debug_nodes(api: Api) -> None:
    status, body = api.post("exec/algorithm", {"name": "green-alg", "debug": True})
    assert status == 200, body
    first = job(body["jobId"]).pipeline["nodes"][0]
    assert (first["input"], first["kind"]) == ([], "debug")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "data should have required property 'name'"),
        ({"name": "green-alg", "stam": 1}, 400, "data should NOT have additional properties (stam)"),
        ({"name": "green-alg", "input": "x"}, 400, "data.input should be array"),
        ({"name": "no-such-alg"}, 404, "algorithm no-such-alg Not Found"),
    ],
)
def test_exec_algorithm_refuses_bad_requests(
    api: Api, body: dict[str, Any], status: int, message: str
) -> None:
    assert api.error("post", "exec/algorithm", body) == (status, message)


# --- pause and resume --------------------------------------------------------------------------


def test_pause_needs_a_known_unfinished_job(api: Api) -> None:
    assert api.error("post", "exec/pause", {}) == (400, "data should have required property 'jobId'")
    assert api.error("post", "exec/pause", {"jobId": "nope"}) == (404, "jobId nope Not Found")
    job_id = submit(api, node("a"))
    services.stop_job(job_id)
    assert api.error("post", "exec/pause", {"jobId": job_id}) == (
        400,
        "unable to pause pipeline p1 because its in stopped status",
    )


def test_pause_sets_paused_and_prepends_an_audit_entry(api: Api) -> None:
    job_id = started(api, node("a"))
    assert api.post("exec/pause/", {"jobId": job_id}) == (200, {"message": "OK"})
    paused = job(job_id)
    assert paused.status == JobStatus.PAUSED
    assert [e["action"] for e in paused.audit_trail] == ["pause", "run"]
    assert set(paused.audit_trail[0]) == {"timestamp", "user", "action"}


def test_a_paused_job_ignores_finished_nodes_and_dispatches_nothing(api: Api) -> None:
    job_id = started(api, node("a"), node("b", "@a"))
    api.post("exec/pause", {"jobId": job_id})
    record(job_id, "a")
    services.node_finished(job_id, "a")
    assert nodes(job_id) == {"a": NodeStatus.ACTIVE, "b": NodeStatus.CREATING}


def test_resume_finishes_nodes_that_ended_while_paused_and_goes_on(api: Api) -> None:
    job_id = started(api, node("a"), node("b", "@a"), node("c", "@b"))
    api.post("exec/pause", {"jobId": job_id})
    record(job_id, "a")
    services.node_finished(job_id, "a")  # the callback, dropped while paused
    assert api.post("exec/resume", {"jobId": job_id}) == (200, {"message": "OK"})
    resumed = job(job_id)
    assert resumed.status == JobStatus.ACTIVE
    assert [e["action"] for e in resumed.audit_trail] == ["resume", "pause", "run"]
    assert nodes(job_id) == {"a": NodeStatus.SUCCEED, "b": NodeStatus.ACTIVE, "c": NodeStatus.CREATING}
    b = JobNode.objects.get(job_id=job_id, node_name="b")
    assert b.spec["plan"]["refs"]["k0"]["link"]["storageInfo"]["path"] == f"local-hkube/{job_id}/a"
    # The real callback arriving late changes nothing.
    services.node_finished(job_id, "a")
    assert nodes(job_id)["b"] == NodeStatus.ACTIVE


def test_resume_leaves_nodes_whose_tasks_still_run(api: Api) -> None:
    job_id = started(api, {**node("a", "#[1,2,3]")}, node("b", "@a"))
    api.post("exec/pause", {"jobId": job_id})
    record(job_id, "a", 1)
    record(job_id, "a", 2)
    api.post("exec/resume", {"jobId": job_id})
    assert nodes(job_id) == {"a": NodeStatus.ACTIVE, "b": NodeStatus.CREATING}
    record(job_id, "a", 3)
    services.node_finished(job_id, "a")  # the chord callback, after the resume
    assert nodes(job_id) == {"a": NodeStatus.SUCCEED, "b": NodeStatus.ACTIVE}


def test_resume_fails_a_node_whose_messages_failed_while_paused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = started(api, node("a", "#[1,2,3]"), node("b", "@a"))
    api.post("exec/pause", {"jobId": job_id})
    record(job_id, "a", 1)
    JobNode.objects.filter(job_id=job_id, node_name="a").update(celery_ids=["m1", "m2"])
    # The chord's error callback was dropped while paused; the result backend still knows.
    monkeypatch.setattr(control, "_message_states", lambda ids: {"SUCCESS", "FAILURE"})
    api.post("exec/resume", {"jobId": job_id})
    failed = job(job_id)
    assert failed.status == JobStatus.FAILED
    assert failed.error == "node a failed: a task message failed while paused"
    assert nodes(job_id) == {"a": NodeStatus.FAILED, "b": NodeStatus.STOPPED}


def test_a_job_paused_before_it_started_goes_back_to_pending(api: Api) -> None:
    job_id = submit(api, node("a"))
    api.post("exec/pause", {"jobId": job_id})
    services.start_job(job_id)  # the queued start message, dropped while paused
    assert nodes(job_id) == {}
    api.post("exec/resume", {"jobId": job_id})
    assert job(job_id).status == JobStatus.PENDING
    services.start_job(job_id)  # the start message the resume queues
    assert nodes(job_id) == {"a": NodeStatus.ACTIVE}


def test_resuming_a_job_paused_while_held_for_a_slot_leaves_it_held(
    api: Api, django_capture_on_commit_callbacks: Any
) -> None:
    held, free = submit(api, node("a")), submit(api, node("a"))
    Job.objects.filter(job_id=held).update(max_exceeded=True)
    for job_id in (held, free):
        api.post("exec/pause", {"jobId": job_id})
    with django_capture_on_commit_callbacks(execute=False) as held_callbacks:
        api.post("exec/resume", {"jobId": held})
    with django_capture_on_commit_callbacks(execute=False) as free_callbacks:
        api.post("exec/resume", {"jobId": free})
    assert (job(held).status, job(held).max_exceeded) == (JobStatus.PENDING, True)
    assert (len(held_callbacks), len(free_callbacks)) == (0, 1)  # only the free one is queued


def test_resume_needs_a_paused_job(api: Api) -> None:
    assert api.error("post", "exec/resume", {"jobId": "nope"}) == (404, "jobId nope Not Found")
    job_id = started(api, node("a"))
    assert api.error("post", "exec/resume", {"jobId": job_id}) == (
        400,
        "unable to resume pipeline p1 because its in active status",
    )


def test_a_paused_job_can_be_stopped(api: Api) -> None:
    job_id = started(api, node("a"))
    api.post("exec/pause", {"jobId": job_id})
    assert api.post("exec/stop", {"jobId": job_id})[0] == 200
    assert job(job_id).status == JobStatus.STOPPED
    assert api.error("post", "exec/resume", {"jobId": job_id}) == (
        400,
        "unable to resume pipeline p1 because its in stopped status",
    )


# --- rerun ---------------------------------------------------------------------------------------


def test_rerun_runs_the_user_pipeline_again_with_its_stored_flow_input(api: Api) -> None:
    old_id = submit(api, node("a", "@flowInput.x"), flowInput={"x": [1, 2]})
    status, body = api.post("exec/rerun", {"jobId": old_id})
    assert status == 200, body
    old, new = job(old_id), job(body["jobId"])
    assert new.job_id != old_id
    assert new.types == ["raw", "rerun"]
    assert new.pipeline["flowInputMetadata"] == old.pipeline["flowInputMetadata"]
    assert new.pipeline["flowInputMetadata"]["storageInfo"]["path"].endswith(f"/{old_id}/{old_id}")
    assert new.pipeline["nodes"] == old.pipeline["nodes"]
    status, again = api.post("exec/rerun", {"jobId": new.job_id})
    assert job(again["jobId"]).types == ["raw", "rerun"]


def test_rerun_refuses_unknown_jobs_and_extra_fields(api: Api) -> None:
    assert api.error("post", "exec/rerun", {"jobId": "nope"}) == (404, "jobId nope Not Found")
    assert api.error("post", "exec/rerun", {"jobId": "x", "y": 1}) == (
        400,
        "data should NOT have additional properties (y)",
    )
    assert api.error("post", "exec/rerun", {}) == (400, "data should have required property 'jobId'")


# --- caching (run from a node) -----------------------------------------------------------------


def finished_chain(api: Api) -> str:
    """a → b → c, with c also reading a: every node succeeded."""
    job_id = started(
        api, node("a", "@flowInput.x"), node("b", "@a"), node("c", "@b", "@a.v"), flowInput={"x": 1}
    )
    for name in ("a", "b", "c"):
        finish(
            job_id,
            name,
            {"kind": "single", "status": "succeed", "link": {"storageInfo": {"path": f"{job_id}/{name}"}}},
        )
    Job.objects.filter(job_id=job_id).update(status=JobStatus.COMPLETED)
    return job_id


def test_caching_runs_the_node_and_its_descendants_with_the_other_parents_cached(api: Api) -> None:
    old_id = finished_chain(api)
    status, body = api.post("exec/caching", {"jobId": old_id, "nodeName": "b"})
    assert status == 200, body
    new = job(body["jobId"])
    assert new.pipeline_name == "p1-b"
    assert new.types == ["raw", "node"]
    assert new.root_job_id == old_id
    assert [n["nodeName"] for n in new.pipeline["nodes"]] == ["b", "c"]
    assert new.pipeline["nodes"][0]["cacheJobId"] == old_id
    assert "cacheJobId" not in new.pipeline["nodes"][1]
    assert new.pipeline["cachedOutputs"] == {
        "a": {"kind": "single", "status": "succeed", "link": {"storageInfo": {"path": f"{old_id}/a"}}}
    }
    assert new.pipeline["flowInputMetadata"] == job(old_id).pipeline["flowInputMetadata"]

    services.start_job(new.job_id)
    assert nodes(new.job_id) == {"b": NodeStatus.ACTIVE, "c": NodeStatus.CREATING}
    b = JobNode.objects.get(job_id=new.job_id, node_name="b")
    assert b.spec["plan"]["refs"]["k0"]["link"]["storageInfo"]["path"] == f"{old_id}/a"
    # c reads the new b, and a from the old job.
    record(new.job_id, "b")
    services.node_finished(new.job_id, "b")
    c = JobNode.objects.get(job_id=new.job_id, node_name="c")
    refs = c.spec["plan"]["refs"]
    assert refs["k0"]["link"]["storageInfo"]["path"] == f"local-hkube/{new.job_id}/b"
    assert refs["k1"]["link"] == {"storageInfo": {"path": f"{old_id}/a"}, "path": "v"}


def test_caching_a_cached_run_keeps_the_root_job_and_its_cached_parents(api: Api) -> None:
    old_id = finished_chain(api)
    first = api.post("exec/caching", {"jobId": old_id, "nodeName": "b"})[1]["jobId"]
    services.start_job(first)
    finish(first, "b", {"kind": "single", "status": "succeed", "link": {"storageInfo": {"path": "new-b"}}})
    status, body = api.post("exec/caching", {"jobId": first, "nodeName": "c", "debug": True})
    assert status == 200, body
    second = job(body["jobId"])
    assert second.pipeline_name == "p1-b-c"
    assert second.types == ["raw", "node"]
    assert second.root_job_id == old_id
    assert second.pipeline["nodes"][0]["cacheJobId"] == old_id
    assert second.pipeline["options"]["debugOverride"] == ["c"]
    cached = second.pipeline["cachedOutputs"]
    assert cached["b"]["link"]["storageInfo"]["path"] == "new-b"
    assert cached["a"]["link"]["storageInfo"]["path"] == f"{old_id}/a"


def test_rerun_of_a_cached_run_keeps_its_cached_parents(api: Api) -> None:
    old_id = finished_chain(api)
    cached_id = api.post("exec/caching", {"jobId": old_id, "nodeName": "b"})[1]["jobId"]
    status, body = api.post("exec/rerun", {"jobId": cached_id})
    assert status == 200, body
    again = job(body["jobId"])
    assert again.types == ["raw", "node", "rerun"]
    assert again.pipeline["cachedOutputs"] == job(cached_id).pipeline["cachedOutputs"]
    services.start_job(again.job_id)
    assert nodes(again.job_id) == {"b": NodeStatus.ACTIVE, "c": NodeStatus.CREATING}


def test_caching_a_batch_parent_reads_the_old_jobs_items(api: Api) -> None:
    old_id = started(api, node("a", "#[1,2,3]"), node("b", "@a"))
    finish(
        old_id,
        "a",
        {"kind": "batch", "status": "succeed", "jobId": old_id, "nodeName": "a", "count": 3, "failed": []},
    )
    new_id = api.post("exec/caching", {"jobId": old_id, "nodeName": "b"})[1]["jobId"]
    services.start_job(new_id)
    ref = JobNode.objects.get(job_id=new_id, node_name="b").spec["plan"]["refs"]["k0"]
    assert (ref["type"], ref["jobId"], ref["node"], ref["count"]) == ("collect", old_id, "a", 3)


def test_a_parent_that_never_finished_reads_as_null(api: Api) -> None:
    old_id = started(api, node("a"), node("b", "@a"))  # a still running: no output
    new_id = api.post("exec/caching", {"jobId": old_id, "nodeName": "b"})[1]["jobId"]
    assert job(new_id).pipeline["cachedOutputs"] == {"a": {"kind": "missing"}}
    services.start_job(new_id)
    ref = JobNode.objects.get(job_id=new_id, node_name="b").spec["plan"]["refs"]["k0"]
    assert ref == {"type": "link", "link": None}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"jobId": "nope", "nodeName": "b"}, "unable to find pipeline nope"),
        ({"jobId": "x"}, "data should have required property 'nodeName'"),
        ({"jobId": "x", "nodeName": "b", "stam": 1}, "data should NOT have additional properties (stam)"),
    ],
)
def test_caching_refuses_bad_requests(api: Api, body: dict[str, Any], message: str) -> None:
    assert api.error("post", "exec/caching", body) == (400, message)


def test_caching_refuses_unknown_nodes_and_wait_any_pipelines(api: Api) -> None:
    old_id = finished_chain(api)
    assert api.error("post", "exec/caching", {"jobId": old_id, "nodeName": "z"}) == (
        400,
        "cant find relations for z",
    )
    any_id = submit(api, node("a", "#[1,2]"), node("b", "*@a"), node("c", "@b"))
    assert api.error("post", "exec/caching", {"jobId": any_id, "nodeName": "c"}) == (
        400,
        "relation waitAny for node b is not allowed",
    )
