"""Result nodes (semantics §4.7) and the progress line (§5.10)."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.engine.dag import build_graph
from pipelines.engine.results import progress, result_nodes


def node(name: str, *inputs: object, **extra: Any) -> dict[str, Any]:
    return {"nodeName": name, "algorithmName": "alg", "input": list(inputs), **extra}


def test_results_are_the_sinks_in_descriptor_order() -> None:
    graph = build_graph(
        {"name": "p", "nodes": [node("A"), node("C", "@A"), node("B", "@A"), node("D", "@B")]}
    )
    assert result_nodes(graph) == ["C", "D"]


@pytest.mark.parametrize("flag", ["includeInResults", "includeInResult"])
def test_a_flagged_inner_node_is_included_too(flag: str) -> None:
    graph = build_graph({"name": "p", "nodes": [node("A", **{flag: True}), node("B", "@A")]})
    assert result_nodes(graph) == ["A", "B"]


def test_a_false_or_truthy_non_boolean_flag_does_not_include_a_node() -> None:
    nodes = [node("A", includeInResults=False), node("B", "@A", includeInResult="yes"), node("C", "@B")]
    assert result_nodes(build_graph({"name": "p", "nodes": nodes})) == ["C"]


def test_an_output_node_and_the_other_sinks_are_all_results() -> None:
    nodes = [node("A"), node("B", "@A"), node("X"), node("out", "@B", kind="output")]
    assert result_nodes(build_graph({"name": "p", "nodes": nodes})) == ["X", "out"]


def test_progress_counts_succeed_failed_and_skipped_as_done() -> None:
    assert progress({"succeed": 3, "failed": 1, "skipped": 1, "active": 5}, 10) == (
        50.0,
        "50% completed, 3 succeed, 1 failed, 1 skipped, 5 active",
    )


def test_progress_of_a_finished_job_prints_a_whole_number() -> None:
    assert progress({"succeed": 3}, 3) == (100.0, "100% completed, 3 succeed")


def test_progress_is_rounded_to_two_decimals() -> None:
    assert progress({"succeed": 1, "active": 2}, 3) == (33.33, "33.33% completed, 1 succeed, 2 active")
    assert progress({"succeed": 2, "active": 1}, 3) == (66.67, "66.67% completed, 2 succeed, 1 active")


def test_progress_rounds_halves_up_like_javascript_to_fixed() -> None:
    assert progress({"succeed": 97, "active": 703}, 800)[0] == 12.13  # exactly 12.125


def test_progress_lists_states_in_the_given_order_and_leaves_out_empty_ones() -> None:
    assert progress({"active": 2, "creating": 0, "succeed": 3}, 5)[1] == "60% completed, 2 active, 3 succeed"


def test_progress_of_nothing_is_zero() -> None:
    assert progress({}, 0) == (0.0, "")
