"""Pipeline-in-pipeline: `kind: pipeline` nodes expanded inline, as HKube's api-server does.

A node `{"nodeName": "S", "kind": "pipeline", "spec": {"name": "P"}}` is replaced, when the
job is submitted, by the stored pipeline P's nodes (semantics §3.3 step 2):

* each inner node is renamed `S-<inner>` and its inner references are rewritten the same way
  (`@inner.x` -> `@S-inner.x`); `flowInput` references stay, and `origName` is `S`;
* an outer node T that references S waits for every sink of S's subgraph (an explicit
  `waitNode` edge from each sink to T); where S has exactly one sink, T's `@S[.path]` reads
  that sink's result (`@S-<sink>[.path]`), so the sub-pipeline's result flows to T;
* P's stored `flowInput` is deep-merged under the outer one (the outer values win).

The expanded nodes belong to the same job: a failed inner node fails the job like any node,
and stopping the job stops them. Inner `kind: pipeline` nodes are expanded in turn; a
pipeline that contains itself is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from pipelines.engine.references import map_leaves, parse_reference

PIPELINE_KIND = "pipeline"


class PipelineNotFound(Exception):
    """A `kind: pipeline` node names a pipeline that is not stored."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class PipelineCycle(Exception):
    """A stored pipeline contains itself through its `kind: pipeline` nodes."""

    def __init__(self, name: str) -> None:
        super().__init__(f'pipeline "{name}" can not contain itself')
        self.message = str(self)


Lookup = Callable[[str], Mapping[str, Any] | None]


def has_pipeline_nodes(descriptor: Mapping[str, Any]) -> bool:
    return any(node.get("kind") == PIPELINE_KIND for node in descriptor.get("nodes") or [])


def expand(descriptor: Mapping[str, Any], lookup: Lookup, *, _stack: tuple[str, ...] = ()) -> dict[str, Any]:
    """`descriptor` with every `kind: pipeline` node replaced by its stored pipeline's nodes.

    `lookup(name)` returns a stored pipeline's descriptor or None (`PipelineNotFound`).
    """
    result = copy.deepcopy(dict(descriptor))
    if not has_pipeline_nodes(result):
        return result
    nodes: list[dict[str, Any]] = []
    sinks: dict[str, list[str]] = {}  # outer pipeline node -> its expanded sinks
    flow_input: Any = result.get("flowInput")
    edges: list[dict[str, Any]] = list(result.get("edges") or [])
    for node in result.get("nodes") or []:
        if node.get("kind") != PIPELINE_KIND:
            nodes.append(node)
            continue
        name = str((node.get("spec") or {}).get("name"))
        if name in _stack:
            raise PipelineCycle(name)
        stored = lookup(name)
        if stored is None:
            raise PipelineNotFound(name)
        inner = expand(stored, lookup, _stack=(*_stack, name))
        prefix = str(node["nodeName"])
        renamed, inner_sinks, inner_edges = _renamed(inner, prefix)
        nodes.extend(renamed)
        edges.extend(inner_edges)
        sinks[prefix] = inner_sinks
        if inner.get("flowInput") is not None:
            flow_input = _deep_merge(inner["flowInput"], flow_input)
    for node in nodes:
        parents = _referenced_pipeline_nodes(node, sinks)
        if parents:
            node["input"] = _point_at_sinks(node.get("input") or [], sinks)
            for parent in parents:
                edges.extend({"source": sink, "target": node["nodeName"]} for sink in sinks[parent])
    result["nodes"] = nodes
    if edges:
        result["edges"] = edges
    if flow_input is not None:
        result["flowInput"] = flow_input
    return result


def _renamed(
    inner: Mapping[str, Any], prefix: str
) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """The inner nodes renamed `prefix-<name>`, the renamed sinks, and the renamed edges."""
    names = {str(node.get("nodeName")) for node in inner.get("nodes") or []}
    referenced: set[str] = set()
    renamed: list[dict[str, Any]] = []

    def rename(leaf: object) -> object:
        reference = parse_reference(leaf)
        if reference is None or reference.kind != "node" or reference.obj not in names:
            return leaf
        referenced.add(reference.obj)
        path = f".{reference.path}" if reference.path else ""
        return f"{reference.sign}{prefix}-{reference.obj}{path}"

    for node in inner.get("nodes") or []:
        copied = copy.deepcopy(dict(node))
        copied["nodeName"] = f"{prefix}-{node['nodeName']}"
        copied["origName"] = prefix
        copied["input"] = map_leaves(list(node.get("input") or []), rename)
        renamed.append(copied)
    edges = [
        {**edge, "source": f"{prefix}-{edge['source']}", "target": f"{prefix}-{edge['target']}"}
        for edge in inner.get("edges") or []
        if edge.get("source") in names and edge.get("target") in names
    ]
    sources_of_edges = {str(edge["source"]) for edge in inner.get("edges") or []}
    sinks = [
        f"{prefix}-{node['nodeName']}"
        for node in inner.get("nodes") or []
        if node["nodeName"] not in referenced and node["nodeName"] not in sources_of_edges
    ]
    return renamed, sinks, edges


def _referenced_pipeline_nodes(node: Mapping[str, Any], sinks: Mapping[str, list[str]]) -> list[str]:
    found: list[str] = []

    def visit(leaf: object) -> object:
        reference = parse_reference(leaf)
        if reference is not None and reference.obj in sinks and reference.obj not in found:
            found.append(reference.obj)
        return leaf

    map_leaves(list(node.get("input") or []), visit)
    return found


def _point_at_sinks(value: list[Any], sinks: Mapping[str, list[str]]) -> object:
    def point(leaf: object) -> object:
        reference = parse_reference(leaf)
        if reference is None or reference.obj not in sinks or len(sinks[reference.obj]) != 1:
            return leaf  # several sinks: HKube's `origName` reference (waits, reads null)
        path = f".{reference.path}" if reference.path else ""
        return f"{reference.sign}{sinks[reference.obj][0]}{path}"

    return map_leaves(value, point)


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    return copy.deepcopy(over) if over is not None else copy.deepcopy(base)
