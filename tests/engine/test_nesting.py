"""`kind: pipeline` nodes expanded inline (HKube's pipeline-of-pipelines, semantics §3.3)."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.engine.dag import build_graph
from pipelines.engine.nesting import PipelineCycle, PipelineNotFound, expand


def node(name: str, *inputs: object, **extra: Any) -> dict[str, Any]:
    return {"nodeName": name, "algorithmName": "alg", "input": list(inputs), **extra}


def pipe(name: str, target: str, *inputs: object) -> dict[str, Any]:
    return {"nodeName": name, "kind": "pipeline", "spec": {"name": target}, "input": list(inputs)}


STORED = {
    "inner": {
        "name": "inner",
        "nodes": [node("a", "@flowInput.x"), node("b", "@a.v", "#@a")],
        "flowInput": {"x": 1, "deep": {"keep": True, "over": "inner"}},
    },
    "two-sinks": {"name": "two-sinks", "nodes": [node("a"), node("b")]},
    "loop": {"name": "loop", "nodes": [pipe("again", "loop")]},
}


def outer(*nodes: dict[str, Any], flow_input: Any = None) -> dict[str, Any]:
    descriptor: dict[str, Any] = {"name": "outer", "nodes": list(nodes)}
    if flow_input is not None:
        descriptor["flowInput"] = flow_input
    return descriptor


def test_inner_nodes_are_renamed_with_their_references_and_keep_an_orig_name() -> None:
    expanded = expand(outer(pipe("S", "inner")), STORED.get)
    assert [(n["nodeName"], n["input"], n["origName"]) for n in expanded["nodes"]] == [
        ("S-a", ["@flowInput.x"], "S"),
        ("S-b", ["@S-a.v", "#@S-a"], "S"),
    ]


def test_a_child_of_a_pipeline_node_reads_its_single_sink() -> None:
    expanded = expand(outer(node("first"), pipe("S", "inner"), node("T", "@S.v", "@first")), STORED.get)
    assert expanded["nodes"][-1]["input"] == ["@S-b.v", "@first"]
    graph = build_graph(expanded)
    assert graph.parents("T") == ["first", "S-b"]
    assert graph.sources() == ["first", "S-a"]


def test_several_sinks_all_precede_the_child_which_reads_null_as_in_hkube() -> None:
    expanded = expand(outer(pipe("S", "two-sinks"), node("T", "@S")), STORED.get)
    assert expanded["nodes"][-1]["input"] == ["@S"]
    assert sorted(build_graph(expanded).parents("T")) == ["S-a", "S-b"]


def test_the_stored_flow_input_is_merged_under_the_outer_one() -> None:
    expanded = expand(outer(pipe("S", "inner"), flow_input={"deep": {"over": "outer"}, "y": 2}), STORED.get)
    assert expanded["flowInput"] == {"x": 1, "deep": {"keep": True, "over": "outer"}, "y": 2}


def test_an_unknown_pipeline_is_named() -> None:
    with pytest.raises(PipelineNotFound) as caught:
        expand(outer(pipe("S", "nope")), STORED.get)
    assert caught.value.name == "nope"


def test_a_pipeline_containing_itself_is_refused() -> None:
    with pytest.raises(PipelineCycle):
        expand(outer(pipe("S", "loop")), STORED.get)


def test_a_pipeline_without_pipeline_nodes_is_unchanged() -> None:
    descriptor = outer(node("a"), node("b", "@a"))
    assert expand(descriptor, STORED.get) == descriptor
