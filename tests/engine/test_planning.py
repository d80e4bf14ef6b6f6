"""Task plans and item expansion (semantics §2.2-2.6, §4.4-4.5): worked examples and the parser table."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from pipelines.engine.dag import build_graph
from pipelines.engine.ids import task_id
from pipelines.engine.planning import (
    Plan,
    expand_item,
    output_metadata,
    plan_node,
    resolve_input,
    save_paths,
)
from storage.paths import task_output

CLUSTER = "local"
JOB = "a1b2c3d4e5f6"
FLOW_PATH = f"local-hkube/{JOB}/{JOB}"
FLOW_INPUT = {
    "files": {"links": ["l0", "l1", "l2", "l3", "l4"]},
    "x": 7,
    "y": "why",
    "z": [1],
    "flowlist": [9, 8, 7, 6],
}


def item_path(node: str, batch_index: int) -> str:
    return task_output(CLUSTER, JOB, task_id(JOB, node, batch_index))


def single(path: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "kind": "single",
        "status": "succeed",
        "link": {"storageInfo": {"path": path}},
        "metadata": metadata or {},
    }


def batch(node: str, count: int, failed: tuple[int, ...] = (), status: str = "succeed") -> dict[str, Any]:
    return {
        "kind": "batch",
        "status": status,
        "jobId": JOB,
        "nodeName": node,
        "count": count,
        "failed": list(failed),
    }


FAILED: dict[str, Any] = {"kind": "single", "status": "failed", "link": None, "metadata": {}}
SKIPPED: dict[str, Any] = {"kind": "skipped"}


def flow_input(value: dict[str, Any] | None = None) -> dict[str, Any]:
    value = FLOW_INPUT if value is None else value
    metadata = {}
    for key, item in value.items():
        metadata[f"flowInput.{key}"] = (
            {"type": "array", "size": len(item)} if isinstance(item, list) else {"type": "x"}
        )
    metadata["flowInput.files.links"] = {"type": "array", "size": 5}
    return {"storageInfo": {"path": FLOW_PATH}, "metadata": metadata}


def plan(
    inputs: list[Any],
    outputs: dict[str, dict[str, Any]] | None = None,
    *,
    flow: dict[str, Any] | None = None,
    operation: str | None = None,
) -> Plan:
    node: dict[str, Any] = {"nodeName": "T", "algorithmName": "t", "input": inputs}
    if operation:
        node["batchOperation"] = operation
    return plan_node(node, outputs=outputs or {}, flow_input=flow, cluster=CLUSTER)


class Store:
    """Stored objects by path, counting reads."""

    def __init__(self, objects: dict[str, Any] | None = None) -> None:
        self.objects = {FLOW_PATH: FLOW_INPUT, **(objects or {})}
        self.reads: list[str] = []

    def read(self, path: str) -> Any:
        self.reads.append(path)
        return self.objects[path]


def link_of(the_plan: Plan, index: int, key: str = "k0") -> dict[str, Any]:
    """The single link item `index` reads for `key`."""
    link = expand_item(the_plan, index)[1][key]
    assert isinstance(link, dict)
    return dict(link)


def items(the_plan: Plan, store: Store | None = None) -> list[Any]:
    """Every item's resolved input, in dispatch order."""
    store = store or Store()
    indices = range(the_plan["count"]) if the_plan["batch"] else [0]
    resolved = []
    for index in indices:
        value, storage = expand_item(the_plan, index)
        resolved.append(resolve_input(value, storage, store.read))
    return resolved


# --- single nodes (parser cases 1-3, 5, 9, 11, F2) ---------------------------------------------


def test_a_reference_to_a_single_node_becomes_a_storage_key_with_an_empty_path() -> None:
    the_plan = plan(["@yellow", 512], {"yellow": single("p/yellow")})
    assert the_plan["batch"] is False
    assert the_plan["count"] == 1
    value, storage = expand_item(the_plan, 0)
    assert value == ["$$k0", 512]
    assert storage == {"k0": {"storageInfo": {"path": "p/yellow"}, "path": ""}}


def test_a_path_into_a_single_node_is_kept_on_the_link() -> None:
    value, storage = expand_item(plan(["@yellow.data", 512], {"yellow": single("p/yellow")}), 0)
    assert value == ["$$k0", 512]
    assert storage["k0"] == {"storageInfo": {"path": "p/yellow"}, "path": "data"}


def test_wait_any_on_a_single_node_reads_like_a_plain_reference() -> None:
    the_plan = plan(["*@yellow.data", 512], {"yellow": single("p/yellow")})
    assert (the_plan["batch"], the_plan["waitAny"], the_plan["count"]) == (False, [], 1)
    assert items(the_plan, Store({"p/yellow": {"data": [1, 2]}})) == [[[1, 2], 512]]


def test_a_reference_to_a_batch_node_collects_its_items_in_batch_index_order_with_nulls_for_failures() -> (
    None
):
    the_plan = plan(["@green", 512], {"green": batch("green", 4, failed=(3,))})
    assert the_plan["batch"] is False
    _, storage = expand_item(the_plan, 0)
    assert storage["k0"] == [
        {"storageInfo": {"path": item_path("green", 1)}, "path": ""},
        {"storageInfo": {"path": item_path("green", 2)}, "path": ""},
        None,
        {"storageInfo": {"path": item_path("green", 4)}, "path": ""},
    ]
    store = Store({item_path("green", i): {"v": i * 10} for i in (1, 2, 4)})
    assert items(the_plan, store) == [[[{"v": 10}, {"v": 20}, None, {"v": 40}], 512]]


def test_a_path_into_a_batch_node_applies_to_each_item() -> None:
    store = Store({item_path("green", i): {"v": i} for i in (1, 2)})
    assert items(plan(["@green.v"], {"green": batch("green", 2)}), store) == [[[1, 2]]]


def test_a_reference_to_a_skipped_node_is_an_empty_list() -> None:
    value, storage = expand_item(plan(["@S", {"a": "@S"}], {"S": SKIPPED}), 0)
    assert value == [[], {"a": []}]
    assert storage == {}


def test_a_failed_single_parent_gives_null() -> None:
    assert items(plan(["@A", "@A.x"], {"A": FAILED})) == [[None, None]]


@pytest.mark.parametrize("inputs", [["test"], [], [None, {"prop": None}, [None], {"a": {"b": [None]}}]])
def test_an_input_without_references_is_used_as_is(inputs: list[Any]) -> None:
    the_plan = plan(inputs)
    assert (the_plan["batch"], the_plan["refs"]) == (False, {})
    assert expand_item(the_plan, 0) == (inputs, {})


def test_empty_containers_survive_planning() -> None:
    assert items(plan([[], 5, {}])) == [[[], 5, {}]]
    assert items(plan([{"a": [], "b": 1}])) == [[{"a": [], "b": 1}]]


def test_a_flow_input_reference_points_into_the_stored_flow_input() -> None:
    the_plan = plan([True, 512, "@flowInput.files.links"], flow=flow_input())
    value, storage = expand_item(the_plan, 0)
    assert value == [True, 512, "$$k0"]
    assert storage["k0"] == {"storageInfo": {"path": FLOW_PATH}, "path": "files.links"}
    assert items(the_plan) == [[True, 512, ["l0", "l1", "l2", "l3", "l4"]]]


def test_the_whole_flow_input_is_the_empty_path() -> None:
    assert items(plan(["@flowInput"], flow=flow_input())) == [[FLOW_INPUT]]


def test_flow_input_without_a_stored_flow_input_is_null() -> None:
    assert items(plan(["@flowInput.array", "#@flowInput.list"])) == []
    assert items(plan(["@flowInput.array"])) == [[None]]


def test_flow_input_lookalikes_and_data_sources_resolve_to_null() -> None:
    the_plan = plan(["@flowInputFoo.x", "@dataSource.images/a.jpg"], flow=flow_input())
    assert expand_item(the_plan, 0) == ([None, None], {})


def test_a_parent_the_engine_does_not_know_gives_null() -> None:
    assert expand_item(plan(["@gone", "*@gone"]), 0) == ([None, None], {})
    assert plan(["#@gone"])["count"] == 0


def test_references_resolve_in_place_at_any_depth() -> None:
    the_plan = plan(
        [{"cfg": {"data": "@A.x"}, "list": [1, "@flowInput.x"]}], {"A": single("p/A")}, flow=flow_input()
    )
    assert items(the_plan, Store({"p/A": {"x": "ax"}})) == [[{"cfg": {"data": "ax"}, "list": [1, 7]}]]


# --- batch over references (cases 4, 6, 12, B1-B4, B8, B9, B12) --------------------------------


def test_batch_over_a_single_node_path_uses_its_recorded_array_size() -> None:
    outputs = {"yellow": single("p/yellow", {"yellow.data": {"type": "array", "size": 3}})}
    the_plan = plan(["#@yellow.data", 512], outputs)
    assert (the_plan["batch"], the_plan["count"]) == (True, 3)
    links = [link_of(the_plan, k) for k in range(3)]
    assert links == [{"storageInfo": {"path": "p/yellow"}, "path": f"data.{k}"} for k in range(3)]
    assert items(the_plan, Store({"p/yellow": {"data": ["a", "b", "c"]}})) == [
        ["a", 512],
        ["b", 512],
        ["c", 512],
    ]


def test_batch_over_a_whole_single_node_indexes_its_result() -> None:
    the_plan = plan(
        [True, "#@green", "@flowInput.files.links"],
        {"green": single("p/g", {"green": {"type": "array", "size": 5}})},
        flow=flow_input(),
    )
    assert the_plan["count"] == 5
    assert link_of(the_plan, 3)["path"] == "3"
    assert items(the_plan, Store({"p/g": list("abcde")}))[3] == [True, "d", ["l0", "l1", "l2", "l3", "l4"]]


def test_batch_over_a_flow_input_array_keeps_other_keys_in_every_task() -> None:
    the_plan = plan([{"flowlist": "#@flowInput.flowlist", "list": [4, 5, 6]}], flow=flow_input())
    assert the_plan["count"] == 4
    for k in range(4):
        value, storage = expand_item(the_plan, k)
        assert value == [{"flowlist": "$$k0", "list": [4, 5, 6]}]
        assert storage == {"k0": {"storageInfo": {"path": FLOW_PATH}, "path": f"flowlist.{k}"}}
    assert items(the_plan) == [[{"flowlist": v, "list": [4, 5, 6]}] for v in (9, 8, 7, 6)]


def test_a_batch_with_many_plain_references_copies_them_into_every_task() -> None:
    inputs = [
        "#@flowInput.files.links",
        {"data": {"prop": "@flowInput.x"}},
        "@flowInput.x",
        "@flowInput.y",
        "@flowInput",
        2,
        False,
        ["@flowInput"],
        {"a": {"b": "@flowInput.z"}},
    ]
    the_plan = plan(inputs, flow=flow_input())
    assert (the_plan["batch"], the_plan["count"]) == (True, 5)
    resolved = items(the_plan)
    assert resolved[2] == [
        "l2",
        {"data": {"prop": 7}},
        7,
        "why",
        FLOW_INPUT,
        2,
        False,
        [FLOW_INPUT],
        {"a": {"b": [1]}},
    ]


def test_a_batch_over_a_non_array_gives_zero_tasks() -> None:
    the_plan = plan([200, "#@flowInput.files", False], flow=flow_input())
    assert (the_plan["batch"], the_plan["count"]) == (True, 0)


@pytest.mark.parametrize(
    ("inputs", "where"),
    [
        ([{"a": {"c": "#@flowInput.files.links"}}], lambda v: v[0]["a"]["c"]),
        ([{"a": {"b": [1, 2, ["#@flowInput.files.links"]]}}], lambda v: v[0]["a"]["b"][2][0]),
        ([{"a": [{"b": "#@flowInput.files.links"}]}], lambda v: v[0]["a"][0]["b"]),
    ],
)
def test_a_nested_batch_reference_fans_out_in_place(inputs: list[Any], where: Any) -> None:
    the_plan = plan(inputs, flow=flow_input())
    assert the_plan["count"] == 5
    value, _ = expand_item(the_plan, 0)
    assert where(value) == "$$k0"
    assert [where(v) for v in items(the_plan)] == ["l0", "l1", "l2", "l3", "l4"]


@pytest.mark.parametrize("operation", ["indexed", "cartesian"])
def test_one_batch_source_with_plain_references_is_a_degenerate_cartesian(operation: str) -> None:
    outputs = {"green": single("p/g", {"green": {"type": "array", "size": 5}})}
    inputs = [{"a": True, "b": "#@green", "c": "@flowInput.files.links"}]
    the_plan = plan(inputs, outputs, flow=flow_input(), operation=operation)
    assert the_plan["count"] == 5
    assert all(len(expand_item(the_plan, k)[1]) == 2 for k in range(5))


def test_cartesian_over_two_flow_input_arrays_gives_every_pair() -> None:
    inputs = ["#@flowInput.files.links", "#@flowInput.files.links"]
    resolved = items(plan(inputs, flow=flow_input(), operation="cartesian"))
    assert len(resolved) == 25
    assert resolved[7] == ["l1", "l2"]


def test_a_missing_size_in_the_metadata_gives_zero_tasks() -> None:
    assert plan(["#@A.items"], {"A": single("p/A")})["count"] == 0
    assert plan(["#@A.items"], {"A": single("p/A", {"A.items": {"type": "object"}})})["count"] == 0
    assert plan(["#@A"], {"A": FAILED})["count"] == 0


# --- batch over a batch node, skips ------------------------------------------------------------


def test_batch_over_a_batch_node_runs_once_per_successful_item() -> None:
    the_plan = plan(["#@green.v"], {"green": batch("green", 5, failed=(2, 4))})
    assert the_plan["count"] == 3
    links = [link_of(the_plan, k) for k in range(3)]
    assert links == [{"storageInfo": {"path": item_path("green", i)}, "path": "v"} for i in (1, 3, 5)]


def test_batch_over_an_all_failed_or_skipped_batch_gives_zero_tasks() -> None:
    assert plan(["#@green"], {"green": batch("green", 3, failed=(1, 2, 3))})["count"] == 0
    assert plan(["#@S"], {"S": SKIPPED})["count"] == 0


def test_items_kept_after_failures_are_found_in_order() -> None:
    failed = (1, 2, 5, 9, 10, 11, 20)
    the_plan = plan(["#@green"], {"green": batch("green", 20, failed=failed)})
    kept = [i for i in range(1, 21) if i not in failed]
    assert the_plan["count"] == len(kept)
    paths = [link_of(the_plan, k)["storageInfo"]["path"] for k in range(len(kept))]
    assert paths == [item_path("green", i) for i in kept]


def test_items_kept_after_any_failures_match_a_plain_filter() -> None:
    rng = random.Random(7)
    for _ in range(200):
        count = rng.randint(1, 40)
        failed = tuple(sorted(rng.sample(range(1, count + 1), rng.randint(0, count))))
        the_plan = plan(["#@green"], {"green": batch("green", count, failed=failed)})
        kept = [i for i in range(1, count + 1) if i not in failed]
        assert the_plan["count"] == len(kept)
        assert [link_of(the_plan, k)["storageInfo"]["path"] for k in range(len(kept))] == [
            item_path("green", i) for i in kept
        ]


def test_a_batch_that_also_reduces_a_batch_parent_gives_every_task_the_whole_list() -> None:
    the_plan = plan(["#[x,y]", "@B"], {"B": batch("B", 3, failed=(2,))})
    store = Store({item_path("B", 1): "b1", item_path("B", 3): "b3"})
    assert items(the_plan, store) == [["x", ["b1", None, "b3"]], ["y", ["b1", None, "b3"]]]
    first, second = (expand_item(the_plan, k)[1]["k1"] for k in (0, 1))
    assert first == second
    assert first is not second


# --- inline batches and batchOperation (§2.3, §2.4, B5-B7, B10, B11) --------------------------


def test_indexed_takes_element_k_of_every_source_and_pads_with_null() -> None:
    assert items(plan(["#[1,2,3]", "#[a,b]"])) == [["1", "a"], ["2", "b"], ["3", None]]


def test_cartesian_batch_first_input_is_outer_loop() -> None:
    resolved = items(plan(["#[1,2]", "#[a,b]"], operation="cartesian"))
    assert resolved == [["1", "a"], ["1", "b"], ["2", "a"], ["2", "b"]]


def test_cartesian_of_two_ranges_gives_121_tasks_and_task_100_is_9_and_101() -> None:
    the_plan = plan(["#[0...10]", "#[100...110]"], operation="cartesian")
    assert the_plan["count"] == 121
    assert expand_item(the_plan, 0)[0] == [0, 100]
    assert expand_item(the_plan, 100)[0] == [9, 101]
    assert expand_item(the_plan, 120)[0] == [10, 110]


def test_indexed_sources_at_any_depth_are_independent_and_literals_are_copied() -> None:
    inputs = [
        {"data1": "#[0...10]"},
        {"val1": "data1"},
        {"val2": "data2"},
        {"data2": "#[10...20]"},
        "data1",
        "data2",
        {"data3": "#[20...30]"},
    ]
    the_plan = plan(inputs)
    assert the_plan["count"] == 11
    assert expand_item(the_plan, 0)[0] == [
        {"data1": 0},
        {"val1": "data1"},
        {"val2": "data2"},
        {"data2": 10},
        "data1",
        "data2",
        {"data3": 20},
    ]
    task9 = expand_item(the_plan, 9)[0]
    assert (task9[0]["data1"], task9[3]["data2"], task9[6]["data3"]) == (9, 19, 29)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("#[1, 2, 3, 4, 5, 1...10, 11,12, 20...30]", 28),
        ("#[hello, 1...10, world, 10...20]", 23),
        ("#[600...700]", 101),
        ("#[1...200000]", 200000),
        ("#[3...1]", 0),
    ],
)
def test_inline_batches_give_one_task_per_item(text: str, count: int) -> None:
    assert plan([text])["count"] == count


def test_mixed_inline_items_keep_their_types_and_order() -> None:
    the_plan = plan(["#[hello, 1...3, world, 10...11]"])
    assert [expand_item(the_plan, k)[0][0] for k in range(the_plan["count"])] == [
        "hello",
        1,
        2,
        3,
        "world",
        10,
        11,
    ]


def test_an_empty_inline_batch_is_one_task_with_an_empty_string() -> None:
    assert items(plan(["#[]"])) == [[""]]


def test_every_task_gets_its_own_deep_copy_of_the_input() -> None:
    the_plan = plan([{"a": {"b": "#[1...2]"}, "c": "x", "d": []}])
    first, _ = expand_item(the_plan, 0)
    second, _ = expand_item(the_plan, 1)
    assert first == [{"a": {"b": 1}, "c": "x", "d": []}]
    assert second == [{"a": {"b": 2}, "c": "x", "d": []}]
    first[0]["d"].append("changed")
    assert expand_item(the_plan, 0)[0] == [{"a": {"b": 1}, "c": "x", "d": []}]


def test_an_empty_source_makes_a_cartesian_product_empty_but_only_pads_indexed() -> None:
    assert plan(["#[1,2]", "#[3...1]"], operation="cartesian")["count"] == 0
    assert items(plan(["#[1,2]", "#[3...1]"])) == [["1", None], ["2", None]]


def test_indexed_mixes_inline_values_and_stored_items() -> None:
    the_plan = plan(["#[a,b,c]", "#@flowInput.flowlist"], flow=flow_input())
    assert items(the_plan) == [["a", 9], ["b", 8], ["c", 7], [None, 6]]


def test_only_stored_values_remain_as_keys_in_an_expanded_item() -> None:
    the_plan = plan(
        ["#[a,b]", "#@flowInput.flowlist", "@S", "@flowInput.x"], {"S": SKIPPED}, flow=flow_input()
    )
    value, storage = expand_item(the_plan, 3)
    assert value == [None, "$$k1", [], "$$k3"]
    assert set(storage) == {"k1", "k3"}


def test_an_item_outside_a_batch_plan_is_an_error() -> None:
    the_plan = plan(["#[a,b]"])
    with pytest.raises(IndexError):
        expand_item(the_plan, 2)
    with pytest.raises(IndexError):
        expand_item(the_plan, -1)


# --- wait-any (§4.4) ---------------------------------------------------------------------------


def test_wait_any_on_batch_parents_zips_their_items_by_batch_index() -> None:
    the_plan = plan(["*@green", "*@yellow.v"], {"green": batch("green", 3), "yellow": batch("yellow", 3)})
    assert (the_plan["batch"], the_plan["waitAny"], the_plan["count"]) == (False, ["green", "yellow"], 3)
    value, storage = expand_item(the_plan, 2)
    assert value == ["$$k0", "$$k1"]
    assert storage == {
        "k0": {"storageInfo": {"path": item_path("green", 2)}, "path": ""},
        "k1": {"storageInfo": {"path": item_path("yellow", 2)}, "path": "v"},
    }


def test_wait_any_items_are_numbered_by_the_parents_batch_index() -> None:
    the_plan = plan(["*@green"], {"green": batch("green", 2)})
    for outside in (0, 3):
        with pytest.raises(IndexError):
            expand_item(the_plan, outside)


def test_a_single_plan_ignores_the_index() -> None:
    the_plan = plan(["@A"], {"A": single("p/A")})
    assert expand_item(the_plan, 0) == expand_item(the_plan, 5)


def test_wait_any_can_be_planned_while_its_parent_still_runs() -> None:
    the_plan = plan(["*@green"], {"green": batch("green", 4, status="active")})
    assert (the_plan["waitAny"], the_plan["count"]) == (["green"], 4)


def test_a_failed_or_missing_wait_any_item_gives_null() -> None:
    the_plan = plan(
        ["*@green", "*@yellow"], {"green": batch("green", 3, failed=(1,)), "yellow": batch("yellow", 2)}
    )
    assert expand_item(the_plan, 1) == (
        [None, "$$k1"],
        {"k1": {"storageInfo": {"path": item_path("yellow", 1)}, "path": ""}},
    )
    assert expand_item(the_plan, 3)[0] == ["$$k0", None]  # yellow has no item 3
    assert expand_item(the_plan, 2, missing={"green"})[0] == [None, "$$k1"]


def test_wait_any_with_a_plain_parent_gives_every_item_the_whole_result() -> None:
    the_plan = plan(["*@A", "@W"], {"A": batch("A", 2), "W": single("p/W")})
    assert the_plan["waitAny"] == ["A"]
    store = Store({item_path("A", 1): "a1", item_path("A", 2): "a2", "p/W": "w"})
    assert [resolve_input(*expand_item(the_plan, i), store.read) for i in (1, 2)] == [
        ["a1", "w"],
        ["a2", "w"],
    ]


def test_wait_any_and_a_plain_reference_to_the_same_parent_give_the_array_and_the_item() -> None:
    the_plan = plan(["@A", "*@A"], {"A": batch("A", 2)})
    store = Store({item_path("A", 1): "a1", item_path("A", 2): "a2"})
    assert resolve_input(*expand_item(the_plan, 2), store.read) == [["a1", "a2"], "a2"]


def test_a_skipped_wait_any_parent_skips_the_node() -> None:
    assert plan(["*@S"], {"S": SKIPPED})["count"] == 0
    assert plan(["*@S", "*@green"], {"S": SKIPPED, "green": batch("green", 2)})["count"] == 0


# --- plans stay small and survive JSON ------------------------------------------------------


def test_a_huge_inline_range_has_a_small_plan() -> None:
    the_plan = plan(["#[1...200000]"])
    assert the_plan["count"] == 200000
    assert len(json.dumps(the_plan)) < 2000
    assert expand_item(the_plan, 199999)[0] == [200000]


def test_a_batch_over_a_million_element_array_has_a_small_plan() -> None:
    the_plan = plan(["#@A.items"], {"A": single("p/A", {"A.items": {"type": "array", "size": 1_000_000}})})
    assert the_plan["count"] == 1_000_000
    assert len(json.dumps(the_plan)) < 2000
    assert link_of(the_plan, 999_999)["path"] == "items.999999"


def test_plans_over_big_batch_parents_do_not_list_their_items() -> None:
    outputs = {"B": batch("B", 100_000), "C": batch("C", 100_000)}
    for inputs in (["@B"], ["#@B.x"], ["*@B"], ["#[1...1000]", "#@C"]):
        assert len(json.dumps(plan(inputs, outputs, operation="cartesian"))) < 2000


def test_a_mixed_inline_list_keeps_its_ranges_compact() -> None:
    the_plan = plan(["#[first, 1...500000, last]"])
    assert the_plan["count"] == 500002
    assert len(json.dumps(the_plan)) < 2000
    assert expand_item(the_plan, 500001)[0] == ["last"]
    assert expand_item(the_plan, 1)[0] == [1]


def test_a_plan_read_back_from_json_expands_the_same() -> None:
    outputs = {"A": single("p/A", {"A.items": {"type": "array", "size": 3}}), "B": batch("B", 3, failed=(2,))}
    the_plan = plan(
        ["#@A.items", "#[x...z, 4...6]", {"all": "@B"}, "@flowInput.x"],
        outputs,
        flow=flow_input(),
        operation="cartesian",
    )
    again = json.loads(json.dumps(the_plan))
    for k in range(the_plan["count"]):
        assert expand_item(again, k) == expand_item(the_plan, k)


# --- reading values --------------------------------------------------------------------------


def test_resolve_input_reads_each_link_and_applies_its_path() -> None:
    storage = {
        "a": {"storageInfo": {"path": "p/1"}, "path": "x.1"},
        "b": [{"storageInfo": {"path": "p/1"}, "path": "y"}, None],
    }
    store = Store({"p/1": {"x": [10, 20], "y": "why"}})
    value = resolve_input([{"k": "$$a"}, "$$b", "$$unknown", "$x"], storage, store.read)
    assert value == [{"k": 20}, ["why", None], "$$unknown", "$x"]


def test_resolve_input_gives_null_for_a_missing_path() -> None:
    store = Store({"p/1": {"x": 1}})
    assert resolve_input(["$$a"], {"a": {"storageInfo": {"path": "p/1"}, "path": "nope"}}, store.read) == [
        None
    ]


# --- savePaths and output metadata -----------------------------------------------------------


def test_save_paths_are_what_the_children_reference_in_a_node_output() -> None:
    descriptor = {
        "name": "p",
        "nodes": [
            {"nodeName": "A", "algorithmName": "a", "input": []},
            {"nodeName": "B", "algorithmName": "b", "input": ["#@A.items", {"x": "@A"}]},
            {"nodeName": "C", "algorithmName": "c", "input": ["@A.items", "*@A.other", "@B"]},
            {"nodeName": "D", "algorithmName": "d", "input": ["@flowInput.A"]},
        ],
    }
    graph = build_graph(descriptor)
    assert save_paths(graph, "A") == ["A.items", "A", "A.other"]
    assert save_paths(graph, "B") == ["B"]
    assert save_paths(graph, "C") == []


def test_output_metadata_records_array_sizes_at_the_save_paths() -> None:
    value = {"items": [1, 2, 3], "name": "n"}
    assert output_metadata("A", value, ["A", "A.items", "A.name", "A.nope"]) == {
        "A": {"type": "object"},
        "A.items": {"type": "array", "size": 3},
        "A.name": {"type": "string"},
    }
    assert output_metadata("A", [1, 2], ["A"]) == {"A": {"type": "array", "size": 2}}


def test_a_child_fans_out_over_a_parent_using_the_metadata_the_parent_recorded() -> None:
    graph = build_graph(
        {
            "name": "p",
            "nodes": [
                {"nodeName": "A", "algorithmName": "a", "input": []},
                {"nodeName": "B", "algorithmName": "b", "input": ["#@A.items"]},
            ],
        }
    )
    result = {"items": list(range(7))}
    metadata = output_metadata("A", result, save_paths(graph, "A"))
    the_plan = plan_node(
        graph.nodes["B"], outputs={"A": single("p/A", metadata)}, flow_input=None, cluster=CLUSTER
    )
    assert the_plan["count"] == 7
    assert items(the_plan, Store({"p/A": result})) == [[i] for i in range(7)]
