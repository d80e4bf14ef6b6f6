"""A node's compact task plan, and the input of one of its items.

When a node becomes ready the engine computes its **plan** once (`plan_node`): the node input
with every reference and inline-batch leaf replaced by a `$$k<n>` placeholder (the
*template*), and for each placeholder a small description of where its value comes from (a
*ref*). The plan never holds data, and its size does not grow with the number of items: a
10,000-item batch parent is `{jobId, node, count, failed}`, `#[1...200000]` is `{start, stop}`,
a 1,000,000-element `#@A.items` is one link and a size. Only inline lists the user wrote
(`#[a, b, c]`) are copied into it.

A worker then expands item by item (`expand_item`): values that need no storage (inline
items, `[]` for a skipped parent, the `null` padding of `indexed`) are put straight into the
input, and every other placeholder maps to a *link* (HKube's `{storageInfo, path}`, §2.5) or
a list of links in the returned storage map. `resolve_input` reads them (protocol v1), or the
input and map are sent as they are to wrappers that read storage themselves (v3).

Items: a batch plan has `count` items at 0-based positions k (batchIndex k+1); a wait-any plan
(`*@A` on batch parents) has one item per parent batchIndex i, dispatched as A's items end;
a single plan has one item. A batch input next to `*@A` (A batch) runs the whole batch once
per item of A, as HKube does: `|A| * N` items, A's item i feeding positions (i-1)*N .. i*N-1.
"""

from __future__ import annotations

import bisect
import copy
import functools
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal, cast

from pipelines.engine.dag import Graph
from pipelines.engine.ids import task_id
from pipelines.engine.references import (
    Metadata,
    Reference,
    get_path,
    inline_batch_segments,
    is_inline_batch,
    iter_leaves,
    map_leaves,
    metadata_at,
    parse_reference,
)
from pipelines.engine.shapes import (
    AnyRef,
    BatchItemsRef,
    BatchLinkRef,
    BatchOutput,
    BatchRangeRef,
    BatchRef,
    BatchValuesRef,
    CollectRef,
    EmptyListRef,
    FlowInput,
    ItemsOf,
    Link,
    LinkRef,
    NodeOutput,
    Plan,
    RangeSegment,
    Ref,
    SingleOutput,
    SkippedOutput,
    StorageInfo,
    StorageValue,
)
from storage.paths import task_output

__all__ = [
    "AnyRef",
    "BatchItemsRef",
    "BatchLinkRef",
    "BatchOutput",
    "BatchRangeRef",
    "BatchValuesRef",
    "CollectRef",
    "EmptyListRef",
    "FlowInput",
    "Link",
    "LinkRef",
    "NodeOutput",
    "Plan",
    "Ref",
    "SingleOutput",
    "SkippedOutput",
    "StorageInfo",
    "StorageValue",
    "expand_item",
    "output_metadata",
    "plan_node",
    "resolve_input",
    "save_paths",
]

PLACEHOLDER = "$$"

# --- planning ------------------------------------------------------------------------------


def _link(storage_info: Mapping[str, Any] | None, path: str) -> Link | None:
    if not storage_info or not storage_info.get("path"):
        return None
    return {"storageInfo": cast(StorageInfo, dict(storage_info)), "path": path}


def _array_size(metadata: Mapping[str, Any], key: str) -> int:
    meta = metadata.get(key) or {}
    size = meta.get("size")
    if meta.get("type") == "array" and isinstance(size, int) and not isinstance(size, bool):
        return max(size, 0)
    return 0  # not an array, or nothing recorded: no items → the node is skipped


def _items_of(output: Mapping[str, Any], path: str, cluster: str) -> ItemsOf:
    count = int(output["count"])
    failed = sorted({int(i) for i in output.get("failed") or [] if 1 <= int(i) <= count})
    return {
        "cluster": cluster,
        "jobId": str(output["jobId"]),
        "node": str(output["nodeName"]),
        "count": count,
        "failed": failed,
        "path": path,
    }


def _inline_ref(value: str) -> BatchRef:
    segments = inline_batch_segments(value)
    if len(segments) == 1 and isinstance(segments[0], range):
        whole = segments[0]
        return {"type": "batch-range", "start": whole.start, "stop": whole.stop - 1, "size": len(whole)}
    stored: list[str | RangeSegment] = [
        {"start": s.start, "stop": s.stop - 1} if isinstance(s, range) else s
        for s in segments
        if not (isinstance(s, range) and len(s) == 0)
    ]
    size = sum(len(s) if isinstance(s, range) else 1 for s in segments)
    return {"type": "batch-values", "segments": stored, "size": size}


def _flow_input_ref(reference: Reference, flow_input: Mapping[str, Any] | None) -> Ref:
    # `flowInputX` "is" flowInput for HKube too, and resolves to null.
    usable = flow_input if reference.obj == "flowInput" else None
    link = _link((usable or {}).get("storageInfo"), reference.path)
    if reference.is_batch:
        metadata = (usable or {}).get("metadata") or {}
        size = _array_size(metadata, reference.full) if link else 0
        return {"type": "batch-link", "link": link, "size": size}
    return {"type": "link", "link": link}


def _nothing(reference: Reference) -> Ref:
    """A reference with nothing behind it: null, or zero items for a batch reference."""
    if reference.is_batch:
        return {"type": "batch-link", "link": None, "size": 0}
    return {"type": "link", "link": None}


def _node_ref(reference: Reference, output: Mapping[str, Any] | None, cluster: str) -> Ref | None:
    """The ref for a node reference; None when a `*@` parent was skipped (skip this node)."""
    kind = (output or {}).get("kind")
    if output is None or kind not in ("single", "batch", "skipped"):
        # Not a parent we know (e.g. removed before a cached re-run): HKube gives null.
        return _nothing(reference)
    if kind == "skipped":
        if reference.is_batch:
            return _nothing(reference)
        return None if reference.sign == "*@" else {"type": "empty-list"}
    if kind == "single":
        parent = output.get("link") or {}
        link = _link(parent.get("storageInfo"), reference.path)
        if reference.is_batch:
            metadata = output.get("metadata") or parent.get("metadata") or {}
            size = _array_size(metadata, reference.full) if link else 0
            return {"type": "batch-link", "link": link, "size": size}
        return {"type": "link", "link": link}  # `*@` on a single node reads as `@`
    items = _items_of(output, reference.path, cluster)
    if reference.is_batch:
        return {"type": "batch-items", "size": items["count"] - len(items["failed"]), **items}
    if reference.sign == "*@":
        return {"type": "any", **items}
    return {"type": "collect", **items}


def plan_node(
    node: Mapping[str, Any],
    *,
    outputs: Mapping[str, Mapping[str, Any]],
    flow_input: Mapping[str, Any] | None,
    cluster: str,
) -> Plan:
    """The plan of `node` given its parents' outputs (`NodeOutput` shapes) and the job's
    flowInput (`FlowInput`, None when the job has none).

    A `*@` parent must be in `outputs` even while it runs (as a `BatchOutput`), or it reads
    as a missing parent (null). A plan with `count == 0` means: mark the node skipped.
    """
    refs: dict[str, Ref] = {}
    sources: list[str] = []
    wait_any: list[str] = []
    skipped_parent = False

    def replace(leaf: object) -> object:
        nonlocal skipped_parent
        ref: Ref | None
        if is_inline_batch(leaf):
            ref = _inline_ref(cast(str, leaf))
        else:
            reference = parse_reference(leaf)
            if reference is None:
                return leaf
            if reference.kind == "node":
                ref = _node_ref(reference, outputs.get(reference.obj), cluster)
            elif reference.kind == "flowInput":
                ref = _flow_input_ref(reference, flow_input)
            else:  # legacy `@dataSource.x/y`: no data-source metadata reaches the parser → null
                ref = _nothing(reference)
            if ref is None:
                skipped_parent = True
                ref = {"type": "link", "link": None}
            elif ref["type"] == "any" and ref["node"] not in wait_any:
                wait_any.append(ref["node"])
        key = f"k{len(refs)}"
        refs[key] = ref
        if ref["type"] in ("batch-link", "batch-items", "batch-values", "batch-range"):
            sources.append(key)
        return PLACEHOLDER + key

    template = map_leaves(list(node.get("input") or []), replace)
    operation: Literal["indexed", "cartesian"] = (
        "cartesian" if node.get("batchOperation") == "cartesian" else "indexed"
    )
    sizes = [cast(BatchRef, refs[key])["size"] for key in sources]
    if sources:
        count = max(sizes) if operation == "indexed" else _product(sizes)
        # `*@` next to a batch input (HKube runs the whole batch once per `*@` item): the
        # node waits for its `*@` parents and has `rounds * batch` items (see `_rounds`).
        count *= _rounds(refs)
        wait_any = []
    elif wait_any:
        count = max(ref["count"] for ref in refs.values() if ref["type"] == "any")
    else:
        count = 1
    if skipped_parent:
        count = 0
    return {
        "template": template,
        "refs": refs,
        "batch": bool(sources),
        "operation": operation,
        "count": count,
        "waitAny": wait_any,
        "sources": sources,
    }


def _rounds(refs: Mapping[str, Ref]) -> int:
    """How many times a batch plan runs its batch: once per `*@` parent item (the largest
    `*@` parent, zipped by batchIndex as in a wait-any plan), else once."""
    counts = [ref["count"] for ref in refs.values() if ref["type"] == "any"]
    return max(counts) if counts else 1


def _product(sizes: list[int]) -> int:
    result = 1
    for size in sizes:
        result *= size
    return result


# --- expanding one item --------------------------------------------------------------------


def _location(cluster: str, job_id: str, node: str, batch_index: int) -> str:
    return task_output(cluster, job_id, task_id(job_id, node, batch_index))


def _item_link(items: ItemsOf, batch_index: int) -> Link:
    location = _location(items["cluster"], items["jobId"], items["node"], batch_index)
    return {"storageInfo": {"path": location}, "path": items["path"]}


@functools.lru_cache(maxsize=4)
def _collected(
    cluster: str, job_id: str, node: str, count: int, failed: tuple[int, ...], path: str
) -> tuple[Link | None, ...]:
    # Every item of a batch that also reduces `@B` needs the same N links: derive them once.
    dropped = set(failed)
    return tuple(
        None if i in dropped else {"storageInfo": {"path": _location(cluster, job_id, node, i)}, "path": path}
        for i in range(1, count + 1)
    )


def _nth_kept(failed: list[int], position: int) -> int:
    """The batchIndex of the `position`-th (0-based) item not in `failed`."""
    wanted = position + 1
    low, high = wanted, wanted + len(failed)
    while low < high:  # smallest b with b - #failed≤b == wanted; such a b is never failed
        middle = (low + high) // 2
        if middle - bisect.bisect_right(failed, middle) >= wanted:
            high = middle
        else:
            low = middle + 1
    return low


def _contains(ordered: list[int], value: int) -> bool:
    at = bisect.bisect_left(ordered, value)
    return at < len(ordered) and ordered[at] == value


def _segment_item(segments: list[str | RangeSegment], position: int) -> object:
    for segment in segments:
        if isinstance(segment, str):
            if position == 0:
                return segment
            position -= 1
            continue
        length = max(segment["stop"] - segment["start"] + 1, 0)
        if position < length:
            return segment["start"] + position
        position -= length
    raise IndexError("inline batch position out of range")


def _batch_item(ref: BatchRef, position: int) -> tuple[bool, object]:
    """(True, link) for a stored value, (False, value) for one known now."""
    if ref["type"] == "batch-range":
        return False, ref["start"] + position
    if ref["type"] == "batch-values":
        return False, _segment_item(ref["segments"], position)
    if ref["type"] == "batch-items":
        return True, _item_link(ref, _nth_kept(ref["failed"], position))
    link = ref["link"]
    if link is None:
        return False, None
    base = link.get("path") or ""
    return True, {**link, "path": f"{base}.{position}" if base else str(position)}


def _positions(plan: Plan, index: int) -> dict[str, int | None]:
    """Each batch source's element for task position `index` (None: indexed padding)."""
    sizes = {key: cast(BatchRef, plan["refs"][key])["size"] for key in plan["sources"]}
    if plan["operation"] == "indexed":
        return {key: index if index < size else None for key, size in sizes.items()}
    positions: dict[str, int | None] = {}
    rest = index
    for key in reversed(plan["sources"]):  # the last source is the innermost loop
        rest, positions[key] = divmod(rest, sizes[key])
    return positions


def expand_item(
    plan: Plan | Mapping[str, Any], index: int, *, missing: Collection[str] = ()
) -> tuple[Any, dict[str, StorageValue]]:
    """One item's input and storage map.

    `index`: the 0-based task position for a batch plan (batchIndex = index + 1), the parent
    batchIndex for a wait-any plan, ignored for a single plan. `missing` names `*@` parents
    whose item `index` ended without an output (it failed): those positions get null.

    The input is a fresh copy of the template where only storage-backed values are still
    `$$<key>` strings; the map sends each key to a link or a list of links (None: failed item).
    Links may be shared between the maps of different items: treat them as read-only.
    """
    plan = cast(Plan, plan)
    if plan["batch"]:
        if not 0 <= index < plan["count"]:
            raise IndexError(f"item {index} is outside the plan's {plan['count']} items")
        # Item `index` is element `inner` of the batch run for the `*@` items at batchIndex
        # `round + 1` (one run when no `*@` reference sits next to the batch input).
        rounds = _rounds(plan["refs"])
        round_, inner = divmod(index, plan["count"] // rounds)
        positions = _positions(plan, inner)
        batch_index = round_ + 1
    elif plan["waitAny"]:
        if not 1 <= index <= plan["count"]:
            raise IndexError(f"batchIndex {index} is outside the wait-any parents' 1..{plan['count']}")
        positions, batch_index = {}, index
    else:
        positions, batch_index = {}, 0
    fixed: dict[str, object] = {}
    storage: dict[str, StorageValue] = {}
    for key, ref in plan["refs"].items():
        if key in positions:
            position = positions[key]
            stored, value = (False, None) if position is None else _batch_item(cast(BatchRef, ref), position)
            if stored:
                storage[key] = cast(Link, value)
            else:
                fixed[key] = value
        elif ref["type"] == "link":
            if ref["link"] is None:
                fixed[key] = None
            else:
                storage[key] = ref["link"]
        elif ref["type"] == "collect":
            args = (
                ref["cluster"],
                ref["jobId"],
                ref["node"],
                ref["count"],
                tuple(ref["failed"]),
                ref["path"],
            )
            storage[key] = list(_collected(*args))
        elif ref["type"] == "empty-list":
            fixed[key] = []
        elif ref["type"] == "any":
            exists = 1 <= batch_index <= ref["count"] and ref["node"] not in missing
            if exists and not _contains(ref["failed"], batch_index):
                storage[key] = _item_link(ref, batch_index)
            else:
                fixed[key] = None

    def substitute(leaf: object) -> object:
        if isinstance(leaf, str) and leaf.startswith(PLACEHOLDER) and leaf[2:] in fixed:
            return copy.deepcopy(fixed[leaf[2:]])
        return leaf

    return map_leaves(plan["template"], substitute), storage


# --- reading values ------------------------------------------------------------------------


def resolve_input(input: object, storage_map: Mapping[str, Any], read: Callable[[str], object]) -> Any:
    """The input with every `$$key` leaf replaced by its value, read through `read(path)`.

    `read` gets a storage path and returns the whole stored object (cache it per path: many
    links point into the same object). Values may share structure with what `read` returns.
    """

    def value_of(link: Mapping[str, Any] | None) -> object:
        if link is None:
            return None
        return get_path(read(link["storageInfo"]["path"]), link.get("path") or "")

    def resolve(leaf: object) -> object:
        if not (isinstance(leaf, str) and leaf.startswith(PLACEHOLDER) and leaf[2:] in storage_map):
            return leaf
        target = storage_map[leaf[2:]]
        if isinstance(target, list):
            return [value_of(link) for link in target]
        return value_of(target)

    return map_leaves(input, resolve)


# --- what a node's children read from its output -------------------------------------------


def save_paths(graph: Graph, node_name: str) -> list[str]:
    """The references (without sign) the children of `node_name` make into its output,
    e.g. ["A", "A.items"]: HKube's `info.savePaths`, and the keys of its output metadata.
    """
    found: list[str] = []
    for child in graph.children(node_name):
        for _, leaf in iter_leaves(graph.nodes[child].get("input") or []):
            reference = parse_reference(leaf)
            if (
                reference is not None
                and reference.kind == "node"
                and reference.obj == node_name
                and reference.full not in found
            ):
                found.append(reference.full)
    return found


def output_metadata(node_name: str, value: object, paths: list[str]) -> dict[str, Metadata]:
    """HKube's result metadata: type (and array size) at each savePath of `{node_name: value}`."""
    return metadata_at({node_name: value}, paths)
