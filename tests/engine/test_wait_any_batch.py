"""`*@A` next to a batch input in one node: HKube runs the whole batch once per item of A."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.engine.planning import expand_item
from tests.engine.test_planning import FLOW_INPUT, Store, batch, flow_input, item_path, items, plan, single

# What item i of A holds in the fake store: "A<i>".
A_ITEMS = {item_path("A", i): f"A{i}" for i in range(1, 4)}
G_ITEMS = {item_path("G", i): f"G{i}" for i in range(1, 4)}


def test_the_batch_runs_once_per_wait_any_item_in_batch_index_order() -> None:
    the_plan = plan(["*@A", "#[x,y,z]"], {"A": batch("A", 2)})
    assert (the_plan["batch"], the_plan["waitAny"], the_plan["count"]) == (True, [], 6)
    assert items(the_plan, Store(A_ITEMS)) == [
        ["A1", "x"],
        ["A1", "y"],
        ["A1", "z"],
        ["A2", "x"],
        ["A2", "y"],
        ["A2", "z"],
    ]


def test_a_batch_over_the_flow_input_is_repeated_with_each_item_of_the_parent() -> None:
    the_plan = plan([{"any": "*@A.v"}, "#@flowInput.flowlist"], {"A": batch("A", 3)}, flow=flow_input())
    assert the_plan["count"] == 3 * len(FLOW_INPUT["flowlist"])
    value, storage = expand_item(the_plan, 5)  # round 2 (A's item 2), element 1 of flowlist
    assert value == [{"any": "$$k0"}, "$$k1"]
    assert storage["k0"] == {"storageInfo": {"path": item_path("A", 2)}, "path": "v"}
    flow_path = flow_input()["storageInfo"]["path"]
    assert storage["k1"] == {"storageInfo": {"path": flow_path}, "path": "flowlist.1"}


def test_a_cartesian_batch_is_repeated_whole() -> None:
    the_plan = plan(["*@A", "#[1...2]", "#[a,b]"], {"A": batch("A", 2)}, operation="cartesian")
    resolved = items(the_plan, Store(A_ITEMS))
    pairs = [[1, "a"], [1, "b"], [2, "a"], [2, "b"]]
    assert resolved == [["A1", *p] for p in pairs] + [["A2", *p] for p in pairs]


def test_a_failed_wait_any_item_gives_null_in_its_whole_round() -> None:
    the_plan = plan(["*@A", "#[x,y]"], {"A": batch("A", 3, failed=(2,))})
    assert [r[0] for r in items(the_plan, Store(A_ITEMS))] == ["A1", "A1", None, None, "A3", "A3"]


def test_several_wait_any_parents_are_zipped_and_the_longest_sets_the_rounds() -> None:
    the_plan = plan(["*@A", "*@G", "#[x]"], {"A": batch("A", 3), "G": batch("G", 2)})
    assert items(the_plan, Store({**A_ITEMS, **G_ITEMS})) == [
        ["A1", "G1", "x"],
        ["A2", "G2", "x"],
        ["A3", None, "x"],
    ]


def test_a_batch_over_a_batch_parent_is_repeated_per_wait_any_item() -> None:
    the_plan = plan(["*@A", "#@G"], {"A": batch("A", 2), "G": batch("G", 3, failed=(1,))})
    assert items(the_plan, Store({**A_ITEMS, **G_ITEMS})) == [
        ["A1", "G2"],
        ["A1", "G3"],
        ["A2", "G2"],
        ["A2", "G3"],
    ]


def test_wait_any_on_a_single_parent_reads_as_a_plain_reference_so_the_batch_runs_once() -> None:
    the_plan = plan(["*@A", "#[x,y]"], {"A": single("p/A")})
    assert the_plan["count"] == 2
    assert items(the_plan, Store({"p/A": "whole"})) == [["whole", "x"], ["whole", "y"]]


@pytest.mark.parametrize(
    ("inputs", "outputs"),
    [
        (["*@A", "#[x,y]"], {"A": {"kind": "skipped"}}),  # a skipped `*@` parent skips the node
        (["*@A", "#@flowInput.x"], {"A": batch("A", 2)}),  # a batch over a non-array: 0 items
    ],
)
def test_nothing_to_run_skips_the_node(inputs: list[Any], outputs: dict[str, Any]) -> None:
    assert plan(inputs, outputs, flow=flow_input())["count"] == 0


def test_items_past_the_plan_are_an_error() -> None:
    the_plan = plan(["*@A", "#[x,y]"], {"A": batch("A", 2)})
    with pytest.raises(IndexError):
        expand_item(the_plan, 4)
