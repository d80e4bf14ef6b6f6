"""HKube's node-input grammar: references (`@`, `#@`, `*@`, `*#@`), inline batches (`#[...]`)
and the object-path helpers the rest of the engine reads values with.

Only a *string leaf* whose whole text starts with a known prefix is a reference; numbers,
object keys and any other string are literals (semantics §2.1). Input structures are walked
depth-first, list order then dict key order, the order HKube's parser flattens them in; that
order decides, for instance, which batch source is the outer loop of a cartesian product.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

Kind = Literal["flowInput", "dataSource", "node"]
Relation = Literal["waitNode", "waitBatch", "waitAny", "waitAnyBatch"]
LeafPath = tuple[str | int, ...]

FLOW_INPUT = "flowInput"
DATA_SOURCE = "dataSource"

# Longest prefixes first: "*#@" must win over "*@", "#@" over "@".
_SIGNS: tuple[tuple[str, Relation], ...] = (
    ("*#@", "waitAnyBatch"),
    ("*@", "waitAny"),
    ("#@", "waitBatch"),
    ("@", "waitNode"),
)
_RELATIONS: dict[str, Relation] = dict(_SIGNS)
_INT_PREFIX = re.compile(r"[+-]?\d+")
_NOT_BRACKET_OR_SPACE = re.compile(r"[\[\]\s]+")


@dataclass(frozen=True)
class Reference:
    """One parsed reference: `sign` + `obj` + optional `.path` (e.g. `#@A.items.0`)."""

    sign: str
    obj: str
    path: str = ""

    @property
    def kind(self) -> Kind:
        # "starts with", as HKube checks it: a node called `flowInputX` cannot be referenced.
        if self.obj.startswith(FLOW_INPUT):
            return "flowInput"
        if self.obj.startswith(DATA_SOURCE):
            return "dataSource"
        return "node"

    @property
    def relation(self) -> Relation:
        return _RELATIONS[self.sign]

    @property
    def is_batch(self) -> bool:
        return self.sign in ("#@", "*#@")

    @property
    def full(self) -> str:
        """The reference without its sign (`A.items`): HKube's metadata and savePaths key."""
        return f"{self.obj}.{self.path}" if self.path else self.obj

    def __str__(self) -> str:
        return self.sign + self.full


def parse_reference(value: object) -> Reference | None:
    """The reference a leaf holds, or None for a literal (including `#[...]`)."""
    if not isinstance(value, str):
        return None
    for sign, _ in _SIGNS:
        if value.startswith(sign):
            obj, _, path = value[len(sign) :].partition(".")
            return Reference(sign, obj, path)
    return None


# --- inline batches ------------------------------------------------------------------------


def is_inline_batch(value: object) -> bool:
    return isinstance(value, str) and value.startswith("#[")


def _js_parse_int(text: str) -> int | None:
    """`parseInt(text, 10)`: the leading integer, None where JS gives NaN."""
    match = _INT_PREFIX.match(text)
    return int(match.group()) if match else None


def inline_batch_segments(value: str) -> list[str | range]:
    """`#[...]` as the user wrote it: strings and (unexpanded) inclusive integer ranges.

    Exactly HKube's rules (semantics §2.3): drop every `[`, `]` and all whitespace after the
    `#`, split on `,`; an item containing `...` is the inclusive range `parseInt(s)..parseInt(e)`
    (reversed or non-numeric sides give nothing), every other item stays a string.
    """
    body = _NOT_BRACKET_OR_SPACE.sub("", value[1:])
    segments: list[str | range] = []
    for item in body.split(","):
        if "..." in item:
            sides = item.split("...")
            start, stop = _js_parse_int(sides[0]), _js_parse_int(sides[1])
            segments.append(range(0) if start is None or stop is None else range(start, stop + 1))
        else:
            segments.append(item)
    return segments


def parse_inline_batch(value: str) -> list[str | int]:
    """The items of `#[...]`: `#[1,2]` → ["1", "2"], `#[1...3]` → [1, 2, 3], `#[]` → [""]."""
    items: list[str | int] = []
    for segment in inline_batch_segments(value):
        if isinstance(segment, range):
            items.extend(segment)
        else:
            items.append(segment)
    return items


def inline_batch_range(value: str) -> range | None:
    """The range when `#[...]` is exactly one `a...b` item, so plans need not list it."""
    segments = inline_batch_segments(value)
    if len(segments) == 1 and isinstance(segments[0], range):
        return segments[0]
    return None


# --- walking input structures ----------------------------------------------------------------


def iter_leaves(value: object, prefix: LeafPath = ()) -> Iterator[tuple[LeafPath, object]]:
    """Depth-first leaves (list order, then dict key order) with their paths.

    Empty lists and dicts are leaves themselves, so nothing is lost when a structure is
    rebuilt from its leaves (HKube's parser ≥2.1.10 drops them; we do not).
    """
    if isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from iter_leaves(item, (*prefix, index))
    elif isinstance(value, dict) and value:
        for key, item in value.items():
            yield from iter_leaves(item, (*prefix, key))
    else:
        yield prefix, value


def map_leaves(value: object, fn: Callable[[object], object]) -> object:
    """A fresh copy of `value` with every non-container leaf replaced by `fn(leaf)`.

    Containers are always rebuilt (empty ones included), so each call yields an independent
    deep copy; `fn` is called in `iter_leaves` order.
    """
    if isinstance(value, list):
        return [map_leaves(item, fn) for item in value]
    if isinstance(value, dict):
        return {key: map_leaves(item, fn) for key, item in value.items()}
    return fn(value)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: object = _Missing()
"""What `lookup` returns where JavaScript would give `undefined` (a path that does not exist)."""


def _step(current: object, segment: str) -> object:
    if isinstance(current, dict):
        return current.get(segment, MISSING)
    if isinstance(current, list | str):
        if segment == "length":
            return len(current)
        # object-path turns a segment into an index only if it is a canonical integer.
        if segment.isascii() and segment.isdigit() and str(int(segment)) == segment:
            index = int(segment)
            if index < len(current):
                return current[index]
    return MISSING


def lookup(obj: object, dotted: str) -> object:
    """object-path `get`: numeric segments index lists; MISSING where the path does not exist."""
    if dotted == "":
        return obj
    current = obj
    for segment in dotted.split("."):
        current = _step(current, segment)
        if current is MISSING:
            return MISSING
    return current


def get_path(obj: object, dotted: str) -> object:
    """The value at `dotted` inside `obj` ('' is `obj` itself); None where it does not exist."""
    value = lookup(obj, dotted)
    return None if value is MISSING else value


def flatten_dotted(obj: object) -> dict[str, object]:
    """HKube's flat form of an input (`flatInput`): {"0": .., "1.a": .., "2.0.b": ..}.

    Empty containers stay as values, as the `flat` package keeps them.
    """
    return {".".join(str(part) for part in path): leaf for path, leaf in iter_leaves(obj)}


# --- type/size metadata ----------------------------------------------------------------------


class Metadata(TypedDict):
    """What HKube records about a value so fan-out sizes are known without reading data."""

    type: str
    size: NotRequired[int]


def value_metadata(value: object) -> Metadata:
    """`{type: 'array', size}` for a list, else `{type: <JavaScript typeof>}` (null is 'object')."""
    if isinstance(value, list):
        return {"type": "array", "size": len(value)}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int | float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    return {"type": "object"}


def metadata_at(obj: object, paths: Iterable[str]) -> dict[str, Metadata]:
    """HKube's `objectToMetadata`: the metadata of each path that exists in `obj`."""
    metadata: dict[str, Metadata] = {}
    for path in paths:
        value = lookup(obj, path)
        if value is not MISSING:
            metadata[path] = value_metadata(value)
    return metadata
