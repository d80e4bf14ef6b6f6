"""The pipeline graph: edges from input references, and HKube's descriptor validation.

`build_graph` checks a descriptor in the order HKube does (api-server `validatePipelineNodes`,
then `@hkube/dag`'s graph build) and raises `DescriptorError` with HKube's exact messages, so
a bad descriptor gets the same 400 text from us as from HKube (semantics §3.2).

`*#@X` (waitAnyBatch), which HKube accepts but never runs (semantics §4.9), is rejected here:
HKube parses it and then hangs the job until its TTL.

`*@X` next to a batch input (`#@...` or `#[...]`) in one node is accepted, as HKube accepts
it: the whole batch runs once per item of X (`has_batch_input` marks such nodes; the planner
lays out their items).

`*@A` where A turns out not to be a batch node is accepted: whether A fans out is only known
when A is dispatched (a `#@` over an array it receives may have any size), so the planner reads
such a reference as `@A` instead of waiting forever for items that never come.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.engine.references import (
    FLOW_INPUT,
    Metadata,
    Reference,
    is_inline_batch,
    iter_leaves,
    metadata_at,
    parse_reference,
)

RESERVED_NODE_NAMES = ("flowInput", "dataSource")
ALGORITHM_KINDS = ("algorithm", "debug")


class DescriptorError(Exception):
    """An invalid pipeline descriptor; `message` is the HTTP 400 text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Graph:
    """Nodes in descriptor order and the typed edges between them (`(parent, child)` → types)."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def parents(self, name: str) -> list[str]:
        """The nodes `name` depends on, in descriptor order."""
        return [node for node in self.nodes if (node, name) in self.edges]

    def children(self, name: str) -> list[str]:
        """The nodes that depend on `name`, in descriptor order."""
        return [node for node in self.nodes if (name, node) in self.edges]

    def edge_types(self, source: str, target: str) -> list[str]:
        """The relations on `source → target` (e.g. ['waitBatch', 'input', 'waitNode']), [] if none."""
        return list(self.edges.get((source, target), []))

    def sources(self) -> list[str]:
        """Nodes without parents: the entry nodes of a batch pipeline."""
        targets = {target for _, target in self.edges}
        return [node for node in self.nodes if node not in targets]

    def sinks(self) -> list[str]:
        """Nodes without children."""
        origins = {source for source, _ in self.edges}
        return [node for node in self.nodes if node not in origins]

    def _kahn(self) -> list[str]:
        """Topological order, ties broken by descriptor order; shorter than `nodes` on a cycle."""
        position = {name: index for index, name in enumerate(self.nodes)}
        pending = dict.fromkeys(self.nodes, 0)
        children: dict[str, list[str]] = {name: [] for name in self.nodes}
        for source, target in self.edges:
            if source in pending and target in pending:
                pending[target] += 1
                children[source].append(target)
        heap = [position[name] for name, count in pending.items() if count == 0]
        heapq.heapify(heap)
        names = list(self.nodes)
        order: list[str] = []
        while heap:
            name = names[heapq.heappop(heap)]
            order.append(name)
            for child in children[name]:
                pending[child] -= 1
                if pending[child] == 0:
                    heapq.heappush(heap, position[child])
        return order

    def is_acyclic(self) -> bool:
        return len(self._kahn()) == len(self.nodes)

    def topological_order(self) -> list[str]:
        """Every node after all of its parents (descriptor order among equals)."""
        order = self._kahn()
        if len(order) != len(self.nodes):
            raise ValueError("the graph has a cycle")
        return order

    def levels(self) -> dict[str, int]:
        """HKube's display level: a BFS depth from each source, keeping the largest.

        Not the longest path: for A→B, A→C, B→C the BFS from A reaches C first at depth 1.
        A node no source reaches (only possible on a cycle) keeps -1.
        """
        levels = dict.fromkeys(self.nodes, -1)
        for start in self.sources():
            visited: set[str] = set()
            queue = deque([(start, 0)])
            while queue:
                name, level = queue.popleft()
                levels[name] = max(levels[name], level)
                for child in self.children(name):
                    if child not in visited:
                        visited.add(child)
                        queue.append((child, level + 1))
        return levels


def _node_references(value: object) -> Iterator[Reference]:
    for _, leaf in iter_leaves(value):
        reference = parse_reference(leaf)
        if reference is not None:
            yield reference


def _check_node_fields(nodes: list[dict[str, Any]]) -> None:
    if sum(1 for node in nodes if node.get("kind") == "output") > 1:
        raise DescriptorError("pipeline can not have more than one output")
    for node in nodes:
        kind = node.get("kind") or "algorithm"
        if kind in ALGORITHM_KINDS and not node.get("algorithmName"):
            raise DescriptorError("please provide algorithm name")
        if kind == "pipeline" and not (node.get("spec") or {}).get("name"):
            raise DescriptorError("please provide pipeline name")


def _check_flow_input(element: object, known: Mapping[str, Any]) -> None:
    for reference in _node_references(element):
        if reference.kind == "flowInput" and reference.full not in known:
            raise DescriptorError(f"unable to find {reference.full}")


STREAM_REFERENCE = (
    'the "@" sign is not allowed in "stream" pipeline, please use the "streaming.flows" property instead'
)


def _add_input_edges(
    graph: Graph, target: str, element: object, names: set[str], known: set[str], sources: set[str] | None
) -> None:
    """Edges for one input element; `names` are the node names, `known` adds `origName`s.

    `sources` (stream pipelines only) are the nodes a reference may name: dataSource nodes."""
    for reference in _node_references(element):
        if reference.kind == "node" and reference.obj not in known:
            raise DescriptorError(f'node "{target}" is depend on node "{reference.obj}" which is not exists')
        if sources is not None and reference.kind == "node" and reference.obj in names - sources:
            raise DescriptorError(STREAM_REFERENCE)
        if reference.sign == "*#@":
            raise DescriptorError(f'node "{target}": the "*#@" reference is not supported, use "#@" or "*@"')
        # A name known only as an `origName` (an expanded sub-pipeline) passes but adds no edge.
        if reference.kind == "node" and reference.obj in names:
            types = graph.edges.get((reference.obj, target))
            if types is None:
                graph.edges[(reference.obj, target)] = [reference.relation, "input"]
            else:
                types.append(reference.relation)


def has_batch_input(node: Mapping[str, Any]) -> bool:
    """Whether the node's input holds a batch leaf (`#@...` or `#[...]`) at any depth."""
    for _, leaf in iter_leaves(node.get("input") or []):
        if is_inline_batch(leaf):
            return True
        reference = parse_reference(leaf)
        if reference is not None and reference.is_batch:
            return True
    return False


def build_graph(
    pipeline: Mapping[str, Any],
    *,
    flow_input_metadata: Mapping[str, Any] | None = None,
    check_flow_input: bool = False,
) -> Graph:
    """Validate `pipeline` and build its graph; raises `DescriptorError`.

    `flow_input_metadata` is the job's `{"metadata": {"flowInput.a": {...}}, ...}`; with
    `check_flow_input` every flowInput reference must name a key recorded there (a path the
    flowInput really has, see `flow_input_metadata`).
    """
    nodes: list[dict[str, Any]] = list(pipeline.get("nodes") or [])
    if not nodes:
        raise DescriptorError("pipeline must have at least one node")
    _check_node_fields(nodes)
    names = {str(node.get("nodeName")) for node in nodes}
    # Parents outside a run-from-node cut (`exec/caching`) come with their old outputs in
    # `cachedOutputs`: referencing them is allowed, and adds no edge (they never run here).
    cached = {str(name) for name in pipeline.get("cachedOutputs") or {}}
    known_names = names | cached | {str(node["origName"]) for node in nodes if node.get("origName")}
    known_paths = (flow_input_metadata or {}).get("metadata") or {}
    kind = pipeline.get("kind") or "batch"
    # In a stream pipeline `@` may only name dataSource nodes: flows are the topology.
    sources = (
        {str(n.get("nodeName")) for n in nodes if n.get("kind") == "dataSource"} if kind == "stream" else None
    )
    graph = Graph()
    for node in nodes:
        name = str(node.get("nodeName"))
        if name in graph.nodes:
            raise DescriptorError(f'found duplicate node "{name}"')
        if name in RESERVED_NODE_NAMES:
            raise DescriptorError(f'pipeline "{pipeline.get("name")}" has invalid reserved name "{name}"')
        for element in node.get("input") or []:
            if check_flow_input:
                _check_flow_input(element, known_paths)
            _add_input_edges(graph, name, element, names, known_names, sources)
        graph.nodes[name] = node
    for edge in pipeline.get("edges") or []:
        source, target = edge.get("source"), edge.get("target")
        if source in graph.nodes and target in graph.nodes and (source, target) not in graph.edges:
            graph.edges[(source, target)] = ["waitNode", *(edge.get("types") or [])]
    if kind != "stream" and not graph.is_acyclic():
        raise DescriptorError(f"cyclic nodes are not allowed on {kind} pipeline")
    for name, node in graph.nodes.items():
        if node.get("kind") == "output":
            if kind == "stream":
                raise DescriptorError(
                    f'node "{name}" from kind output can not be used in a streaming pipeline'
                )
            if graph.children(name):
                raise DescriptorError(f'node "{name}" should not have child nodes')
            if not graph.parents(name):
                raise DescriptorError(f'node "{name}" should have parent nodes')
    return graph


def flow_input_paths(pipeline: Mapping[str, Any]) -> set[str]:
    """Every flowInput reference of every node, without its sign: {"flowInput", "flowInput.a.b"}."""
    return {
        reference.full
        for node in pipeline.get("nodes") or []
        for reference in _node_references(node.get("input") or [])
        if reference.kind == "flowInput"
    }


def flow_input_metadata(flow_input: object, paths: Iterable[str]) -> dict[str, Metadata]:
    """`{"flowInput.a.b": {"type": "array", "size": n} | {"type": <typeof>}}` for the given
    references (as `flow_input_paths` returns them); paths the flowInput lacks are omitted.
    """
    return metadata_at({FLOW_INPUT: flow_input}, sorted(paths))
