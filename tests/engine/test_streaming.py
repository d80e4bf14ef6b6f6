"""Stream flows (`streaming.flows`) parsed as HKube does, with its messages (api §4.6)."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.engine.dag import DescriptorError
from pipelines.engine.streaming import (
    CUSTOM_STREAM,
    build_streaming,
    check_entry_nodes,
    check_gateway_nodes,
    check_stateless_counts,
    forced_retry,
    gateway_algorithm_name,
    gateway_url,
    node_state_type,
    parse_flows,
    preview_edges,
)


def node(name: str, state: str | None = "stateless", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"nodeName": name, "algorithmName": f"{name.lower()}-alg", "input": [], **extra}
    if state:
        out["stateType"] = state
    return out


NODES = [node("A", "stateful"), node("B"), node("C"), node("D")]


def flows(*nodes: dict[str, Any], **named: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return list(nodes) or NODES, {"flows": named}


def error_of(nodes: list[dict[str, Any]], streaming: dict[str, Any] | None) -> str:
    with pytest.raises(DescriptorError) as caught:
        parse_flows(nodes, streaming)
    return caught.value.message


def edge(source: str, target: str) -> dict[str, Any]:
    return {"source": source, "target": target, "types": [CUSTOM_STREAM]}


def test_one_flow_is_the_default_and_becomes_parsed_flow_and_edges() -> None:
    parsed = parse_flows(NODES, {"flows": {"analyze": "A >> B&C | B >> D"}})
    assert parsed.default_flow == "analyze"
    assert parsed.parsed_flow == {
        "analyze": [{"source": "A", "next": ["B", "C"]}, {"source": "B", "next": ["D"]}],
    }
    assert parsed.edges == [edge("A", "B"), edge("A", "C"), edge("B", "D")]
    assert parsed.next_nodes("A") == ["B", "C"]
    assert parsed.next_nodes("D") == []


def test_a_chain_and_sources_on_both_sides_of_and() -> None:
    parsed = parse_flows(NODES, {"flows": {"f": "A>>B&C>>D"}})
    assert parsed.parsed_flow["f"] == [
        {"source": "A", "next": ["B", "C"]},
        {"source": "B", "next": ["D"]},
        {"source": "C", "next": ["D"]},
    ]


def test_whitespace_anywhere_is_ignored() -> None:
    parsed = parse_flows(NODES, {"flows": {"f": "  A\t>>\nB &  C "}})
    assert parsed.parsed_flow["f"] == [{"source": "A", "next": ["B", "C"]}]


def test_several_flows_need_a_default_and_share_distinct_edges() -> None:
    streaming = {"flows": {"one": "A >> B >> D", "two": "A >> C >> D | A >> B"}, "defaultFlow": "two"}
    parsed = parse_flows(NODES, streaming)
    assert parsed.default_flow == "two"
    assert parsed.parsed_flow == {
        "one": [{"source": "A", "next": ["B"]}, {"source": "B", "next": ["D"]}],
        "two": [{"source": "A", "next": ["C", "B"]}, {"source": "C", "next": ["D"]}],
    }
    assert parsed.edges == [edge("A", "B"), edge("B", "D"), edge("A", "C"), edge("C", "D")]
    assert parsed.next_nodes("A", "one") == ["B"]
    assert parsed.next_nodes("A") == ["C", "B"]
    assert parsed.streaming_field({"flows": streaming["flows"]}) == {
        "flows": streaming["flows"],
        "parsedFlow": parsed.parsed_flow,
        "defaultFlow": "two",
    }


def test_several_flows_without_a_default_are_refused() -> None:
    message = error_of(NODES, {"flows": {"one": "A >> B", "two": "A >> C"}})
    assert message == "please specify a default stream flow"


def test_a_given_default_is_kept_as_given() -> None:
    assert parse_flows(NODES, {"flows": {"one": "A >> B"}, "defaultFlow": "other"}).default_flow == "other"


def test_cycles_are_allowed() -> None:
    parsed = parse_flows(NODES, {"flows": {"loop": "A >> B >> C >> B | C >> A"}})
    assert edge("C", "B") in parsed.edges
    assert edge("C", "A") in parsed.edges
    assert parsed.entry_nodes() == []


def test_a_pure_cycle_has_no_entry_node_to_check() -> None:
    nodes = [node("B"), node("C")]
    assert parse_flows(nodes, {"flows": {"f": "B >> C >> B"}}).entry_nodes() == []


@pytest.mark.parametrize("streaming", [None, {}, {"flows": None}, {"flows": {}}])
def test_no_flow(streaming: dict[str, Any] | None) -> None:
    assert error_of(NODES, streaming) == "please specify a stream flow"


@pytest.mark.parametrize("value", ["", None])
def test_an_empty_flow(value: str | None) -> None:
    assert error_of(NODES, {"flows": {"analyze": value}}) == "invalid stream flow analyze"


@pytest.mark.parametrize("value", ["A", "A --> B", "A >> B | C", "   "])
def test_a_flow_without_relation(value: str) -> None:
    assert error_of(NODES, {"flows": {"analyze": value}}) == (
        "stream flow analyze should have valid flow, example: A >> B"
    )


def test_a_missing_node_after_a_relation() -> None:
    assert error_of(NODES, {"flows": {"f": "A >> B >> "}}) == "invalid node name after B"


def test_an_unknown_node() -> None:
    assert error_of(NODES, {"flows": {"f": "A >> B&X"}}) == "invalid node X in stream flow f"
    assert error_of(NODES, {"flows": {"f": "X >> A"}}) == "invalid node X in stream flow f"
    assert error_of(NODES, {"flows": {"f": ">> A"}}) == "invalid node  in stream flow f"


def test_a_node_matches_by_its_original_name() -> None:
    nodes = [node("A", "stateful"), node("P-x", origName="P")]
    assert parse_flows(nodes, {"flows": {"f": "A >> P"}}).edges == [edge("A", "P")]


def test_a_self_relation() -> None:
    assert error_of(NODES, {"flows": {"f": "A >> B&B"}}) == "duplicate relation found A >> B in flow f"
    assert error_of(NODES, {"flows": {"f": "A >> B >> B"}}) == "invalid relation found B >> B in flow f"


def test_a_duplicate_relation_in_one_flow() -> None:
    assert error_of(NODES, {"flows": {"f": "A >> B | A >> B"}}) == "duplicate relation found A >> B in flow f"


def test_the_same_relation_in_two_flows_is_fine() -> None:
    parsed = parse_flows(NODES, {"flows": {"f": "A >> B", "g": "A >> B"}, "defaultFlow": "f"})
    assert parsed.edges == [edge("A", "B")]


def test_a_stateless_entry_node() -> None:
    message = error_of(NODES, {"flows": {"f": "B >> C"}})
    assert message == 'entry node "B" cannot be stateless on stream pipeline'
    assert error_of([node("A", None), node("B")], {"flows": {"f": "A >> B"}}) == (
        'entry node "A" cannot be stateless on stream pipeline'
    )
    assert parse_flows(NODES, {"flows": {"f": "B >> C"}}, check_entries=False).edges == [edge("B", "C")]


def test_build_streaming_by_pipeline_kind() -> None:
    with pytest.raises(DescriptorError, match=r"^streaming flow is only allowed in stream pipeline$"):
        build_streaming({"kind": "batch", "nodes": NODES, "streaming": {"flows": {"f": "A >> B"}}})
    with pytest.raises(DescriptorError, match=r"^streaming flow is only allowed in stream pipeline$"):
        build_streaming({"nodes": NODES, "streaming": {"flows": {}}})
    assert build_streaming({"kind": "batch", "nodes": NODES, "streaming": {"defaultFlow": "x"}}) is None
    assert build_streaming({"nodes": NODES}) is None
    parsed = build_streaming({"kind": "stream", "nodes": NODES, "streaming": {"flows": {"f": "A >> B"}}})
    assert parsed is not None and parsed.default_flow == "f"


def test_state_types_and_forced_retry() -> None:
    assert node_state_type({"stateType": "stateful"}, "stateless") == "stateful"
    assert node_state_type({}, "stateful") == "stateful"
    assert node_state_type({}) == "stateless"
    assert forced_retry("stateless") == {"policy": "Never"}
    assert forced_retry("stateful") == {"policy": "Always", "limit": 10000}


def test_gateway_names() -> None:
    assert gateway_algorithm_name("cams") == "cams-gateway"
    assert gateway_url("cams") == "hkube/gateway/cams"
    assert node_state_type({"kind": "gateway"}) == "stateful"


def test_replica_counts_only_on_stateless_nodes() -> None:
    states = {"A": "stateful", "B": "stateless"}
    check_stateless_counts(
        [{"nodeName": "A", "minStatelessCount": 0}, {"nodeName": "B", "maxStatelessCount": 0}], states
    )
    not_stateless = "Nodes which are not stateType=stateless cant have minStatelessCount or maxStatelessCount"
    for bad in ({"minStatelessCount": 1}, {"maxStatelessCount": 2}):
        with pytest.raises(DescriptorError) as caught:
            check_stateless_counts([{"nodeName": "A", **bad}], states)
        assert caught.value.message == not_stateless
    with pytest.raises(DescriptorError) as caught:
        check_stateless_counts([{"nodeName": "B", "minStatelessCount": 2, "maxStatelessCount": 1}], states)
    assert caught.value.message == "maxStatelessCount must be greater or equal to minStatelessCount"
    check_stateless_counts([{"nodeName": "B", "minStatelessCount": 2}], states)


def test_a_gateway_node_must_be_stateful() -> None:
    check_gateway_nodes(
        [{"nodeName": "G", "kind": "gateway"}, {"nodeName": "G", "kind": "gateway", "stateType": "stateful"}]
    )
    with pytest.raises(DescriptorError) as caught:
        check_gateway_nodes([{"nodeName": "G", "kind": "gateway", "stateType": "stateless"}])
    assert caught.value.message == 'Gateway node G stateType must be "stateful". Got stateless'


def test_every_node_no_flow_sends_to_is_an_entry() -> None:
    nodes = [node("A", "stateful"), node("B"), node("C"), {"nodeName": "ds", "kind": "dataSource"}]
    parsed = parse_flows(nodes, {"flows": {"f": "A >> B"}})
    with pytest.raises(DescriptorError) as caught:
        check_entry_nodes(nodes, parsed)
    assert caught.value.message == 'entry node "C" cannot be stateless on stream pipeline'
    check_entry_nodes([*nodes[:2], nodes[3]], parsed)


def test_preview_edges_of_one_flow_or_every_flow() -> None:
    streaming = {"flows": {"one": "A >> B", "two": "A >> C >> B"}}
    assert preview_edges(NODES, streaming) == [edge("A", "B")]
    assert preview_edges(NODES, streaming, key_flow="two") == [edge("A", "C"), edge("C", "B")]
    assert preview_edges(NODES, {**streaming, "defaultFlow": "two"}) == [edge("A", "C"), edge("C", "B")]
    assert preview_edges(NODES, streaming, all_flows=True) == [edge("A", "B"), edge("A", "C"), edge("C", "B")]
    with pytest.raises(DescriptorError, match=r"^invalid stream flow nope$"):
        preview_edges(NODES, streaming, key_flow="nope")
    # only an entry node's own stateType counts in the preview
    assert preview_edges([node("B", None), node("C")], {"flows": {"f": "B >> C"}}) == [edge("B", "C")]
    with pytest.raises(DescriptorError, match="cannot be stateless"):
        preview_edges(NODES, {"flows": {"f": "B >> C"}})
