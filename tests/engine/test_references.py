"""The input grammar: references, inline batches, leaves and object paths (semantics §2.1-2.3)."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.engine.references import (
    MISSING,
    Reference,
    flatten_dotted,
    get_path,
    inline_batch_range,
    is_inline_batch,
    iter_leaves,
    lookup,
    map_leaves,
    metadata_at,
    parse_inline_batch,
    parse_reference,
    value_metadata,
)


def _ref(text: str) -> Reference:
    reference = parse_reference(text)
    assert reference is not None
    return reference


@pytest.mark.parametrize(
    ("text", "sign", "obj", "path", "relation"),
    [
        ("@A", "@", "A", "", "waitNode"),
        ("@A.items.0.name", "@", "A", "items.0.name", "waitNode"),
        ("#@A.items", "#@", "A", "items", "waitBatch"),
        ("*@A", "*@", "A", "", "waitAny"),
        ("*#@A.x", "*#@", "A", "x", "waitAnyBatch"),
        ("@flowInput.a.b", "@", "flowInput", "a.b", "waitNode"),
        ("@", "@", "", "", "waitNode"),
    ],
)
def test_a_reference_splits_into_sign_object_and_path(
    text: str, sign: str, obj: str, path: str, relation: str
) -> None:
    reference = _ref(text)
    assert reference == Reference(sign, obj, path)
    assert reference.relation == relation
    assert str(reference) == text


@pytest.mark.parametrize(
    "value", ["prefix @A", "a@b", "#[1,2]", "A", "", "$$abc", 5, None, True, ["@A"], {"a": "@A"}]
)
def test_only_a_string_that_starts_with_a_sign_is_a_reference(value: object) -> None:
    assert parse_reference(value) is None


def test_batch_signs_are_batch_and_the_others_are_not() -> None:
    assert [_ref(t).is_batch for t in ("@A", "#@A", "*@A", "*#@A")] == [False, True, False, True]


def test_any_object_starting_with_flow_input_or_data_source_is_not_a_node() -> None:
    assert _ref("@flowInput").kind == "flowInput"
    assert _ref("@flowInputFoo.x").kind == "flowInput"
    assert _ref("@dataSource.images/a.jpg").kind == "dataSource"
    assert _ref("@green").kind == "node"


def test_the_full_reference_drops_only_the_sign() -> None:
    assert _ref("#@A.items").full == "A.items"
    assert _ref("@A").full == "A"


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("#[1,2,3]", ["1", "2", "3"]),
        ("#[a, b]", ["a", "b"]),
        ("#[1...3]", [1, 2, 3]),
        ("#[-1...1]", [-1, 0, 1]),
        ("#[3...1]", []),
        ("#[1..3]", ["1..3"]),
        ("#[]", [""]),
        ("#[[1,2],[3]]", ["1", "2", "3"]),
        ("#[hello world]", ["helloworld"]),
        ("#[a...b]", []),
        ("#[ 1 ... 2 ]", [1, 2]),
    ],
)
def test_inline_batches_follow_hkube_exactly(text: str, items: list[object]) -> None:
    assert parse_inline_batch(text) == items


def test_inline_batches_mix_strings_and_ranges() -> None:
    assert len(parse_inline_batch("#[1, 2, 3, 4, 5, 1...10, 11,12, 20...30]")) == 28
    items = parse_inline_batch("#[hello, 1...10, world, 10...20]")
    assert len(items) == 23
    assert items[:3] == ["hello", 1, 2]
    assert items[11] == "world"


def test_a_single_range_is_recognised_without_expanding_it() -> None:
    assert inline_batch_range("#[1...200000]") == range(1, 200001)
    assert inline_batch_range("#[1...2, 5]") is None
    assert inline_batch_range("#[a]") is None


def test_is_inline_batch_needs_the_hash_bracket_prefix() -> None:
    assert is_inline_batch("#[1]")
    assert not is_inline_batch("#@A")
    assert not is_inline_batch(["#[1]"])


def test_leaves_are_depth_first_in_list_then_key_order() -> None:
    value = [1, {"b": "x", "a": [2, 3]}, [[4]]]
    assert list(iter_leaves(value)) == [
        ((0,), 1),
        ((1, "b"), "x"),
        ((1, "a", 0), 2),
        ((1, "a", 1), 3),
        ((2, 0, 0), 4),
    ]


def test_empty_containers_are_leaves_and_are_kept() -> None:
    value = [[], 5, {}, {"a": [], "b": 1}]
    assert list(iter_leaves(value)) == [((0,), []), ((1,), 5), ((2,), {}), ((3, "a"), []), ((3, "b"), 1)]
    assert map_leaves(value, lambda leaf: leaf) == value


def test_a_scalar_is_its_own_only_leaf() -> None:
    assert list(iter_leaves("x")) == [((), "x")]


def test_map_leaves_returns_an_independent_copy() -> None:
    value = [{"a": [1, []]}]
    copied: Any = map_leaves(value, lambda leaf: leaf)
    assert copied == value
    copied[0]["a"][1].append(9)
    assert value == [{"a": [1, []]}]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", {"a": [10, {"b": None}], "s": "hey"}),
        ("a.0", 10),
        ("a.1.b", None),
        ("a.length", 2),
        ("s.length", 3),
        ("a.2", None),
        ("a.01", None),
        ("a.-1", None),
        ("nope.deeper", None),
    ],
)
def test_get_path_follows_object_path(path: str, expected: object) -> None:
    assert get_path({"a": [10, {"b": None}], "s": "hey"}, path) == expected


def test_lookup_tells_a_missing_path_from_a_null_value() -> None:
    assert lookup({"a": None}, "a") is None
    assert lookup({"a": None}, "b") is MISSING
    assert lookup({"a": None}, "a.b") is MISSING


def test_flatten_dotted_gives_hkube_flat_input() -> None:
    assert flatten_dotted([1, {"a": "@x"}, [{"b": 2}], [], {}]) == {
        "0": 1,
        "1.a": "@x",
        "2.0.b": 2,
        "3": [],
        "4": {},
    }


@pytest.mark.parametrize(
    ("value", "metadata"),
    [
        ([1, 2], {"type": "array", "size": 2}),
        ({}, {"type": "object"}),
        (None, {"type": "object"}),
        (True, {"type": "boolean"}),
        (3, {"type": "number"}),
        (2.5, {"type": "number"}),
        ("s", {"type": "string"}),
    ],
)
def test_metadata_names_the_javascript_type(value: object, metadata: dict[str, object]) -> None:
    assert value_metadata(value) == metadata


def test_metadata_omits_paths_that_do_not_exist_but_keeps_nulls() -> None:
    obj = {"A": {"items": [1, 2, 3], "none": None}}
    assert metadata_at(obj, ["A", "A.items", "A.none", "A.nope"]) == {
        "A": {"type": "object"},
        "A.items": {"type": "array", "size": 3},
        "A.none": {"type": "object"},
    }
