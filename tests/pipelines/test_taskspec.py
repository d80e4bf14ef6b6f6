"""The task spec: the one builder of `run_items`' message, and the helpers its readers share."""

from __future__ import annotations

from typing import Any

from pipelines import taskspec
from pipelines.engine.dag import build_graph
from pipelines.engine.planning import Plan
from pipelines.models import Job, JobNode

PIPELINE: dict[str, Any] = {
    "name": "p",
    "kind": "batch",
    "options": {"batchTolerance": 60, "debugOverride": ["C"]},
    "nodes": [
        {"nodeName": "A", "algorithmName": "a", "input": [[1, 2, 3]]},
        {"nodeName": "B", "algorithmName": "b", "input": ["#@A"], "retry": {"policy": "Never", "limit": 1}},
        {"nodeName": "C", "algorithmName": "c", "input": ["*@A"], "ttl": 5},
    ],
}

WIRE_KEYS = [
    "jobId", "nodeName", "algorithmName", "algorithmVersion", "pipelineName", "priority", "plan", "mode",
    "batch", "retry", "ttl", "cluster", "info", "kind", "nodeKind", "debug",
    "anyChildren", "parents", "childs",
]  # fmt: skip


def plan(*, batch: bool = False, wait_any: list[str] | None = None) -> Plan:
    return {
        "template": [],
        "refs": {},
        "batch": batch,
        "operation": "indexed",
        "count": 3,
        "waitAny": wait_any or [],
        "sources": [],
    }


def spec_of(node_name: str, node_plan: Plan) -> taskspec.TaskSpec:
    job = Job(job_id="j1", pipeline_name="p", priority=2, pipeline=PIPELINE, root_job_id="root")
    graph = build_graph(PIPELINE)
    node = JobNode(job=job, node_name=node_name, algorithm_name=node_name.lower(), algorithm_version="v7")
    return taskspec.task_spec(job, graph, node, graph.nodes[node_name], node_plan, cluster="local")


def test_the_spec_keeps_the_wire_keys_in_their_order() -> None:
    spec = spec_of("A", plan())

    assert list(spec) == WIRE_KEYS
    assert spec["mode"] == "single" and spec["batch"] is False
    assert spec["retry"] == {"policy": "OnCrash", "limit": 3}
    assert (spec["priority"], spec["cluster"]) == (2, "local")
    assert "batchTolerance" not in spec  # the tolerance is read from the job, not the message
    assert spec["info"]["rootJobId"] == "root"


def test_a_batch_node_has_batch_mode_and_its_own_retry_policy() -> None:
    spec = spec_of("B", plan(batch=True))

    assert (spec["mode"], spec["batch"]) == ("batch", True)
    assert spec["retry"] == {"policy": "Never", "limit": 1}
    assert spec["parents"] == ["A"] and spec["childs"] == []


def test_a_wait_any_node_streams_from_its_parent_and_may_be_debugged() -> None:
    spec = spec_of("C", plan(wait_any=["A"]))
    parent = spec_of("A", plan())

    assert (spec["mode"], spec["batch"], spec["ttl"]) == ("any", True, 5)
    assert spec["debug"] is True  # options.debugOverride names it
    assert parent["anyChildren"] == ["C"] and parent["debug"] is False
    assert taskspec.any_parents(build_graph(PIPELINE), "C") == ["A"]


def test_a_message_adds_only_the_keys_it_was_given() -> None:
    spec = spec_of("C", plan(wait_any=["A"]))

    inline = taskspec.for_message(spec, inline_finish=True)
    streamed = taskspec.for_message(spec, missing={"2": ["A"]})

    assert list(inline) == [*WIRE_KEYS, "inlineFinish"] and inline["inlineFinish"] is True
    assert list(streamed) == [*WIRE_KEYS, "missing"]
    assert "inlineFinish" not in spec and "missing" not in spec  # the node's spec is unchanged


def test_positions_become_batch_indices_except_for_a_single_task() -> None:
    single, batch = spec_of("A", plan()), spec_of("B", plan(batch=True))

    assert [taskspec.batch_index(single, i) for i in (0,)] == [0]
    assert [taskspec.batch_index(batch, i) for i in (0, 1, 4)] == [1, 2, 5]


def test_missing_parents_are_read_by_batch_index() -> None:
    spec = taskspec.for_message(spec_of("C", plan(wait_any=["A"])), missing={"2": ["A"]})

    assert taskspec.missing_parents(spec, 2) == ["A"]
    assert taskspec.missing_parents(spec, 1) == []
    assert taskspec.missing_parents(spec_of("C", plan(wait_any=["A"])), 2) == []
