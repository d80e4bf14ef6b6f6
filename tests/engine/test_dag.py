"""Graph building and descriptor validation, with HKube's messages (semantics §3)."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.engine.dag import (
    STREAM_REFERENCE,
    DescriptorError,
    build_graph,
    flow_input_metadata,
    flow_input_paths,
    has_batch_input,
)


def node(name: str, *inputs: object, **extra: Any) -> dict[str, Any]:
    return {"nodeName": name, "algorithmName": f"{name.lower()}-alg", "input": list(inputs), **extra}


def pipeline(*nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "pipe", "nodes": list(nodes), **extra}


def error_of(descriptor: dict[str, Any], **options: Any) -> str:
    with pytest.raises(DescriptorError) as caught:
        build_graph(descriptor, **options)
    assert str(caught.value) == caught.value.message
    return caught.value.message


# --- edges and graph queries -----------------------------------------------------------------


def test_each_reference_to_a_node_adds_an_edge_with_its_relation() -> None:
    graph = build_graph(
        pipeline(node("A"), node("B", "@A"), node("C", {"x": ["#@A.items"]}), node("D", "*@B"))
    )
    assert graph.edges == {
        ("A", "B"): ["waitNode", "input"],
        ("A", "C"): ["waitBatch", "input"],
        ("B", "D"): ["waitAny", "input"],
    }


def test_several_references_to_one_parent_collect_their_relations_on_one_edge() -> None:
    graph = build_graph(pipeline(node("A"), node("B", "#@A", "@A.x"), node("C", "@A", {"k": "*@A"}, "@A.y")))
    assert graph.edge_types("A", "B") == ["waitBatch", "input", "waitNode"]
    assert graph.edge_types("A", "C") == ["waitNode", "input", "waitAny", "waitNode"]


def test_flow_input_and_inline_batches_add_no_edges() -> None:
    graph = build_graph(pipeline(node("A", "@flowInput.x", "#@flowInput.list", "#[1,2]", "literal")))
    assert graph.edges == {}
    assert graph.sources() == ["A"]


def test_a_reference_to_a_later_node_is_an_edge_too() -> None:
    graph = build_graph(pipeline(node("B", "@A"), node("A")))
    assert graph.parents("B") == ["A"]
    assert graph.topological_order() == ["A", "B"]


def test_pipeline_edges_add_wait_node_edges_between_existing_nodes_only() -> None:
    descriptor = pipeline(
        node("A"),
        node("B", "#@A"),
        node("C"),
        edges=[
            {"source": "A", "target": "C", "types": ["custom"]},
            {"source": "A", "target": "B"},
            {"source": "A", "target": "NOPE"},
        ],
    )
    graph = build_graph(descriptor)
    assert graph.edges == {("A", "B"): ["waitBatch", "input"], ("A", "C"): ["waitNode", "custom"]}


def test_parents_children_sources_and_sinks_follow_descriptor_order() -> None:
    graph = build_graph(
        pipeline(node("A"), node("Z"), node("C", "@Z", "@A"), node("D", "@A"), node("E", "@C"))
    )
    assert graph.parents("C") == ["A", "Z"]
    assert graph.children("A") == ["C", "D"]
    assert graph.sources() == ["A", "Z"]
    assert graph.sinks() == ["D", "E"]
    assert graph.edge_types("A", "E") == []


def test_topological_order_puts_parents_first_and_keeps_descriptor_order_among_equals() -> None:
    graph = build_graph(pipeline(node("C", "@B"), node("B", "@A"), node("X"), node("A")))
    assert graph.topological_order() == ["X", "A", "B", "C"]


def test_levels_are_a_bfs_depth_not_the_longest_path() -> None:
    graph = build_graph(pipeline(node("A"), node("B", "@A"), node("C", "@A", "@B"), node("D", "@C")))
    assert graph.levels() == {"A": 0, "B": 1, "C": 1, "D": 2}


def test_levels_keep_the_deepest_bfs_over_all_sources() -> None:
    graph = build_graph(pipeline(node("A"), node("X"), node("B", "@A"), node("C", "@B", "@X")))
    assert graph.levels() == {"A": 0, "X": 0, "B": 1, "C": 2}


def test_a_stream_pipeline_may_have_cycles() -> None:
    edges = [
        {"source": "A", "target": "B", "types": ["customStream"]},
        {"source": "B", "target": "A", "types": ["customStream"]},
    ]
    graph = build_graph(pipeline(node("A"), node("B"), kind="stream", edges=edges))
    assert graph.edge_types("A", "B") == ["waitNode", "customStream"]
    assert not graph.is_acyclic()
    with pytest.raises(ValueError, match="cycle"):
        graph.topological_order()


def test_a_stream_pipeline_refuses_at_references_except_to_data_sources() -> None:
    message = STREAM_REFERENCE
    assert message.startswith('the "@" sign is not allowed in "stream" pipeline, please use the')
    assert error_of(pipeline(node("A"), node("B", "@A"), kind="stream")) == message
    assert error_of(pipeline(node("A"), node("B", {"x": ["*@A"]}), kind="stream")) == message
    source = {"nodeName": "ds", "kind": "dataSource", "spec": {"name": "d"}, "input": []}
    graph = build_graph(pipeline(source, node("B", "@ds", "@flowInput.x"), kind="stream"))
    assert graph.edge_types("ds", "B") == ["waitNode", "input"]


def test_a_stream_pipeline_refuses_output_nodes() -> None:
    out = {"nodeName": "out", "kind": "output", "input": []}
    message = 'node "out" from kind output can not be used in a streaming pipeline'
    assert error_of(pipeline(node("A"), out, kind="stream")) == message


# --- validation messages, in HKube's order ---------------------------------------------------


def test_a_pipeline_needs_a_node() -> None:
    assert error_of({"name": "p", "nodes": []}) == "pipeline must have at least one node"
    assert error_of({"name": "p"}) == "pipeline must have at least one node"


def test_a_pipeline_has_at_most_one_output_node() -> None:
    descriptor = pipeline(node("A"), node("O1", "@A", kind="output"), node("O2", "@A", kind="output"))
    assert error_of(descriptor) == "pipeline can not have more than one output"


@pytest.mark.parametrize("kind", [None, "algorithm", "debug"])
def test_an_algorithm_or_debug_node_needs_an_algorithm_name(kind: str | None) -> None:
    bare = {"nodeName": "A", "input": [], **({"kind": kind} if kind else {})}
    assert error_of(pipeline(bare)) == "please provide algorithm name"


def test_other_kinds_need_no_algorithm_name() -> None:
    build_graph(pipeline({"nodeName": "A", "kind": "dataSource", "spec": {"name": "ds"}}, node("B", "@A")))


def test_a_pipeline_node_needs_a_pipeline_name() -> None:
    assert error_of(pipeline({"nodeName": "A", "kind": "pipeline"})) == "please provide pipeline name"
    assert (
        error_of(pipeline({"nodeName": "A", "kind": "pipeline", "spec": {}}))
        == "please provide pipeline name"
    )
    build_graph(pipeline({"nodeName": "A", "kind": "pipeline", "spec": {"name": "other"}}))


def test_node_names_are_unique() -> None:
    assert error_of(pipeline(node("A"), node("B"), node("A"))) == 'found duplicate node "A"'


@pytest.mark.parametrize("reserved", ["flowInput", "dataSource"])
def test_flow_input_and_data_source_are_reserved_node_names(reserved: str) -> None:
    message = error_of({"name": "reservedName", "nodes": [node(reserved)]})
    assert message == f'pipeline "reservedName" has invalid reserved name "{reserved}"'


def test_a_reference_to_an_unknown_node_is_rejected() -> None:
    assert (
        error_of(pipeline(node("A"), node("B", "@C"))) == 'node "B" is depend on node "C" which is not exists'
    )


@pytest.mark.parametrize("text", ["#@NOOP.x", "*@NOOP", {"deep": ["@NOOP"]}])
def test_unknown_nodes_are_found_at_any_depth_and_for_any_sign(text: object) -> None:
    assert error_of(pipeline(node("A", text))) == 'node "A" is depend on node "NOOP" which is not exists'


def test_a_bare_at_sign_refers_to_a_node_without_a_name() -> None:
    assert error_of(pipeline(node("A", "@"))) == 'node "A" is depend on node "" which is not exists'


def test_a_reference_to_an_expanded_sub_pipeline_name_passes_without_an_edge() -> None:
    graph = build_graph(pipeline(node("outer-inner", origName="outer"), node("B", "@outer")))
    assert graph.edges == {}


def test_nodes_are_checked_one_by_one_so_an_earlier_bad_reference_wins_over_a_later_duplicate() -> None:
    message = error_of(pipeline(node("A", "@NOOP"), node("B"), node("B")))
    assert message == 'node "A" is depend on node "NOOP" which is not exists'


def test_a_missing_flow_input_path_is_rejected_when_asked() -> None:
    metadata = {"metadata": {"flowInput.files": {"type": "object"}}}
    descriptor = pipeline(node("A", "#@flowInput.not_such_object"))
    message = error_of(descriptor, flow_input_metadata=metadata, check_flow_input=True)
    assert message == "unable to find flowInput.not_such_object"
    build_graph(descriptor, flow_input_metadata=metadata)  # not checked by default


def test_flow_input_paths_are_checked_at_any_depth_and_for_any_sign() -> None:
    metadata = {"metadata": {"flowInput.a": {"type": "number"}}}
    for text in ("@flowInput.b", "*@flowInput.b", ["x", {"y": "#@flowInput.b"}]):
        message = error_of(pipeline(node("A", text)), flow_input_metadata=metadata, check_flow_input=True)
        assert message == "unable to find flowInput.b"


def test_a_bare_flow_input_reference_needs_a_flow_input() -> None:
    descriptor = pipeline(node("A", "@flowInput"))
    assert error_of(descriptor, flow_input_metadata=None, check_flow_input=True) == "unable to find flowInput"
    build_graph(
        descriptor, flow_input_metadata={"metadata": {"flowInput": {"type": "object"}}}, check_flow_input=True
    )


def test_a_flow_input_lookalike_name_is_checked_as_written() -> None:
    metadata = {"metadata": {"flowInput.x": {"type": "number"}}}
    message = error_of(
        pipeline(node("A", "@flowInputFoo.x")), flow_input_metadata=metadata, check_flow_input=True
    )
    assert message == "unable to find flowInputFoo.x"


def test_within_one_input_element_flow_input_is_checked_before_node_references() -> None:
    descriptor = pipeline(node("A", {"a": "@NOOP", "b": "@flowInput.nope"}))
    message = error_of(descriptor, flow_input_metadata={"metadata": {}}, check_flow_input=True)
    assert message == "unable to find flowInput.nope"
    descriptor = pipeline(node("A", "@NOOP", "@flowInput.nope"))
    message = error_of(descriptor, flow_input_metadata={"metadata": {}}, check_flow_input=True)
    assert message == 'node "A" is depend on node "NOOP" which is not exists'


@pytest.mark.parametrize(
    "nodes",
    [
        [node("A", "@A")],
        [node("A", "@B"), node("B", "@A")],
        [node("A"), node("B", "@A", "@D"), node("C", "#@B"), node("D", "*@C")],
    ],
)
def test_cycles_are_rejected_in_a_batch_pipeline(nodes: list[dict[str, Any]]) -> None:
    assert error_of(pipeline(*nodes)) == "cyclic nodes are not allowed on batch pipeline"


def test_a_cycle_made_by_pipeline_edges_is_rejected_too() -> None:
    descriptor = pipeline(node("A"), node("B", "@A"), edges=[{"source": "B", "target": "A"}])
    assert error_of(descriptor) == "cyclic nodes are not allowed on batch pipeline"


def test_an_output_node_has_no_children() -> None:
    descriptor = pipeline(node("A"), node("B", "@A", kind="output"), node("C", "@B"))
    assert error_of(descriptor) == 'node "B" should not have child nodes'


def test_an_output_node_has_parents() -> None:
    assert error_of(pipeline(node("A"), node("B", kind="output"))) == 'node "B" should have parent nodes'


def test_an_output_node_fed_by_its_parents_is_valid() -> None:
    graph = build_graph(pipeline(node("A"), node("B", "@A"), node("out", ["@A", "@B"], kind="output")))
    assert graph.sinks() == ["out"]


@pytest.mark.parametrize("text", ["*#@A", "*#@A.items", "*#@flowInput.list"])
def test_wait_any_batch_is_rejected_because_hkube_never_runs_it(text: str) -> None:
    message = error_of(pipeline(node("A"), node("B", text)))
    assert message == 'node "B": the "*#@" reference is not supported, use "#@" or "*@"'


@pytest.mark.parametrize("batch", ["#@A", "#[1,2]", {"deep": "#@flowInput.list"}])
def test_wait_any_next_to_a_batch_input_is_accepted_as_hkube_accepts_it(batch: object) -> None:
    graph = build_graph(pipeline(node("A"), node("B", "*@A", batch)))
    assert "waitAny" in graph.edge_types("A", "B")
    assert has_batch_input(graph.nodes["B"])


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (["*@A"], False),
        (["@A", {"x": ["*@A"]}], False),
        (["#[1,2]"], True),
        ([{"deep": ["#@A.list"]}], True),
        (["*@A", {"a": {"b": "#@flowInput.x"}}], True),
    ],
)
def test_a_batch_input_is_found_at_any_depth(inputs: list[object], expected: bool) -> None:
    assert has_batch_input({"input": inputs}) is expected


def test_wait_any_on_flow_input_is_a_plain_reference_and_mixes_with_batches() -> None:
    build_graph(pipeline(node("A", "*@flowInput.x", "#[1,2]")))


def test_wait_any_on_a_node_is_accepted_whatever_that_node_turns_out_to_be() -> None:
    graph = build_graph(pipeline(node("A"), node("B", "*@A")))
    assert graph.edge_types("A", "B") == ["waitAny", "input"]


def test_the_cycle_message_names_the_pipeline_kind() -> None:
    descriptor = pipeline(node("A", "@A"), kind="batch")
    assert error_of(descriptor) == "cyclic nodes are not allowed on batch pipeline"


# --- flowInput metadata --------------------------------------------------------------------


def test_flow_input_paths_lists_every_flow_input_reference_without_its_sign() -> None:
    descriptor = pipeline(
        node("A", "@flowInput.x", {"deep": ["#@flowInput.files.links"]}, "@flowInput"),
        node("B", "*@flowInput.x", "@A.flowInput", "#[1]"),
    )
    assert flow_input_paths(descriptor) == {"flowInput.x", "flowInput.files.links", "flowInput"}


def test_flow_input_metadata_records_types_and_array_sizes_and_omits_missing_paths() -> None:
    flow_input = {"files": {"links": [1, 2, 3, 4, 5]}, "x": 3, "name": "n", "ok": False, "nothing": None}
    paths = {
        "flowInput",
        "flowInput.files",
        "flowInput.files.links",
        "flowInput.x",
        "flowInput.name",
        "flowInput.ok",
        "flowInput.nothing",
        "flowInput.nope",
        "flowInput.files.links.7",
    }
    assert flow_input_metadata(flow_input, paths) == {
        "flowInput": {"type": "object"},
        "flowInput.files": {"type": "object"},
        "flowInput.files.links": {"type": "array", "size": 5},
        "flowInput.name": {"type": "string"},
        "flowInput.nothing": {"type": "object"},
        "flowInput.ok": {"type": "boolean"},
        "flowInput.x": {"type": "number"},
    }


def test_metadata_from_flow_input_paths_satisfies_the_flow_input_check() -> None:
    descriptor = pipeline(node("A", "#@flowInput.files.links", "@flowInput"))
    flow_input = {"files": {"links": [1, 2]}}
    metadata = {"metadata": flow_input_metadata(flow_input, flow_input_paths(descriptor))}
    build_graph(descriptor, flow_input_metadata=metadata, check_flow_input=True)
