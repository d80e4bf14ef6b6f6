"""Stream pipelines' flows: `streaming.flows` parsed into HKube's `parsedFlow` and edges.

A flow is a string such as `"A >> B&C | B >> D"`: `|` separates chains, `>>` is a relation
from every node on its left to every node on its right, `&` lists several nodes. Whitespace
is ignored anywhere. A pipeline may name several flows; `defaultFlow` is required when
there are several, and is the only flow's name when there is one (a given `defaultFlow` is
kept as given, as HKube keeps it).

The result (`ParsedStreaming`) is what HKube stores on the executed pipeline:
`streaming.parsedFlow` (`{flowName: [{"source": "A", "next": ["B", "C"]}, ...]}`, steps in
order of first appearance), `streaming.defaultFlow`, and `edges` of type `customStream`
(one per distinct `source >> target` over all flows). Cycles are allowed. A flow's entry node
(a node with no incoming edge over all flows) must not be stateless.

Every failure raises `dag.DescriptorError` with HKube's exact message (semantics §8,
api §4.6). Plain Python, no Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.engine.dag import DescriptorError

CUSTOM_STREAM = "customStream"
STATEFUL = "stateful"
STATELESS = "stateless"
STATE_TYPES = (STATEFUL, STATELESS)

EXPRESSION = "|"
RELATION = ">>"
AND = "&"

# The retry policy HKube forces on every node of a stream pipeline, by state type.
STREAM_RETRY: dict[str, dict[str, Any]] = {
    STATELESS: {"policy": "Never"},
    STATEFUL: {"policy": "Always", "limit": 10000},
}

_WHITESPACE = re.compile(r"\s")


@dataclass
class ParsedStreaming:
    """A stream pipeline's parsed flows.

    `parsed_flow`: `{flowName: [{"source": str, "next": [str, ...]}, ...]}`;
    `edges`: `[{"source", "target", "types": ["customStream"]}]`, distinct over all flows;
    `default_flow`: the flow a message sent without a flow name follows.
    """

    parsed_flow: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)
    default_flow: str = ""

    def next_nodes(self, source: str, flow: str | None = None) -> list[str]:
        """The nodes `source` sends to in `flow` (the default flow when None); [] if none."""
        for step in self.parsed_flow.get(flow or self.default_flow, []):
            if step["source"] == source:
                return list(step["next"])
        return []

    def streaming_field(self, streaming: Mapping[str, Any] | None) -> dict[str, Any]:
        """The pipeline's `streaming` object with `parsedFlow` and `defaultFlow` set."""
        return {**(streaming or {}), "parsedFlow": self.parsed_flow, "defaultFlow": self.default_flow}

    def entry_nodes(self) -> list[str]:
        """Nodes of the flows with no incoming edge, in order of first appearance."""
        targets = {edge["target"] for edge in self.edges}
        seen: dict[str, None] = {}
        for edge in self.edges:
            for name in (edge["source"], edge["target"]):
                seen.setdefault(name)
        return [name for name in seen if name not in targets]


# Where a gateway node's HTTP ingress is served (HKube's `gatewayUrl.path`), and the name
# of the algorithm its submission creates.
GATEWAY_URL_PATH = "hkube/gateway"
GATEWAY_SUFFIX = "-gateway"


def gateway_algorithm_name(gateway_name: str) -> str:
    """The algorithm a gateway node runs: `<name>-gateway`."""
    return f"{gateway_name}{GATEWAY_SUFFIX}"


def gateway_url(gateway_name: str) -> str:
    """The gateway's URL as the exec answer lists it: `hkube/gateway/<name>`."""
    return f"{GATEWAY_URL_PATH}/{gateway_name}"


def node_state_type(node: Mapping[str, Any], algorithm_state_type: str | None = None) -> str:
    """A stream node's state type: its own `stateType`; else stateful for a gateway; else its
    algorithm's `stateType`; else stateless."""
    own = node.get("stateType")
    if own:
        return str(own)
    if node.get("kind") == "gateway":
        return STATEFUL
    return algorithm_state_type or STATELESS


def check_stateless_counts(nodes: Iterable[Mapping[str, Any]], state_types: Mapping[str, str]) -> None:
    """HKube's replica-count rules of a stream pipeline; `state_types` is nodeName -> state
    type (absent: stateless). Raises `DescriptorError`."""
    listed = list(nodes)
    for node in listed:
        if state_types.get(str(node.get("nodeName")), STATELESS) == STATELESS:
            continue
        if node.get("minStatelessCount", 0) != 0 or node.get("maxStatelessCount"):
            raise DescriptorError(
                f"Nodes which are not stateType={STATELESS} cant have minStatelessCount or maxStatelessCount"
            )
    for node in listed:
        if state_types.get(str(node.get("nodeName")), STATELESS) != STATELESS:
            continue
        maximum = node.get("maxStatelessCount")
        if isinstance(maximum, int) and maximum >= 0 and (node.get("minStatelessCount") or 0) > maximum:
            raise DescriptorError("maxStatelessCount must be greater or equal to minStatelessCount")


def check_gateway_nodes(nodes: Iterable[Mapping[str, Any]]) -> None:
    """A gateway node may only be stateful. Raises `DescriptorError`."""
    for node in nodes:
        state = node.get("stateType")
        if node.get("kind") == "gateway" and state and state != STATEFUL:
            raise DescriptorError(
                f'Gateway node {node.get("nodeName")} stateType must be "{STATEFUL}". Got {state}'
            )


def _flow_names(streaming: Mapping[str, Any] | None) -> tuple[dict[str, Any], str]:
    flows = (streaming or {}).get("flows")
    if not flows or not isinstance(flows, Mapping):
        raise DescriptorError("please specify a stream flow")
    default_flow = (streaming or {}).get("defaultFlow")
    if not default_flow:
        if len(flows) > 1:
            raise DescriptorError("please specify a default stream flow")
        default_flow = next(iter(flows))
    return dict(flows), str(default_flow)


def _node_names(nodes: Iterable[Mapping[str, Any]]) -> set[str]:
    names: set[str] = set()
    for node in nodes:
        names.add(str(node.get("nodeName")))
        if node.get("origName"):
            names.add(str(node["origName"]))
    return names


def _parse_flow(
    key: str, value: object, names: set[str], edges: dict[tuple[str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """One flow's steps; new distinct edges are added to `edges`."""
    if not value:
        raise DescriptorError(f"invalid stream flow {key}")
    steps: dict[str, list[str]] = {}
    relations: set[tuple[str, str]] = set()
    for expression in _WHITESPACE.sub("", str(value)).split(EXPRESSION):
        parts = expression.split(RELATION)
        if len(parts) == 1:
            raise DescriptorError(f"stream flow {key} should have valid flow, example: A >> B")
        for index, part in enumerate(parts):
            target = parts[index + 1] if index + 1 < len(parts) else None
            if target == "":
                raise DescriptorError(f"invalid node name after {part}")
            targets = target.split(AND) if target is not None else []
            for source in part.split(AND):
                if source not in names:
                    raise DescriptorError(f"invalid node {source} in stream flow {key}")
                for name in targets:
                    relation = f"{source} >> {name}"
                    if source == name:
                        raise DescriptorError(f"invalid relation found {relation} in flow {key}")
                    if (source, name) in relations:
                        raise DescriptorError(f"duplicate relation found {relation} in flow {key}")
                    relations.add((source, name))
                    edges.setdefault(
                        (source, name), {"source": source, "target": name, "types": [CUSTOM_STREAM]}
                    )
                    steps.setdefault(source, []).append(name)
    return [{"source": source, "next": following} for source, following in steps.items()]


def preview_edges(
    nodes: list[dict[str, Any]],
    streaming: Mapping[str, Any] | None,
    *,
    key_flow: str | None = None,
    all_flows: bool = False,
) -> list[dict[str, Any]]:
    """The edges the UI's preview draws (`exec/getGraphByStreamingFlow`): one flow's (`key_flow`,
    else the default flow, else the first), or with `all_flows` every flow's. A flow's entry
    node whose own `stateType` is stateless is refused, as HKube's preview refuses it; no
    default flow is needed. Raises `DescriptorError`."""
    flows = (streaming or {}).get("flows")
    if not flows or not isinstance(flows, Mapping):
        raise DescriptorError("please specify a stream flow")
    if all_flows:
        shown = [str(key) for key in flows]
    else:
        shown = [str(key_flow or (streaming or {}).get("defaultFlow") or next(iter(flows)))]
    names = _node_names(nodes)
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for key in shown:
        _parse_flow(key, flows.get(key), names, edges)
    parsed = ParsedStreaming(edges=list(edges.values()))
    by_name = {str(node.get("nodeName")): node for node in nodes}
    for name in parsed.entry_nodes():
        if (by_name.get(name) or {}).get("stateType") == STATELESS:
            raise DescriptorError(f'entry node "{name}" cannot be {STATELESS} on stream pipeline')
    return parsed.edges


def parse_flows(
    nodes: list[dict[str, Any]], streaming: dict[str, Any] | None, *, check_entries: bool = True
) -> ParsedStreaming:
    """Parse a stream pipeline's `streaming.flows`; raises `DescriptorError`.

    Nodes are matched by `nodeName` (or `origName`, a node expanded from a sub-pipeline).
    With `check_entries`, each entry node's `stateType` (absent: stateless) must not be
    stateless: resolve the nodes' state types (`node_state_type`) before calling.
    """
    flows, default_flow = _flow_names(streaming)
    names = _node_names(nodes)
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    parsed_flow = {str(key): _parse_flow(str(key), value, names, edges) for key, value in flows.items()}
    parsed = ParsedStreaming(parsed_flow=parsed_flow, edges=list(edges.values()), default_flow=default_flow)
    if check_entries:
        by_name = {str(node.get("nodeName")): node for node in nodes}
        for name in parsed.entry_nodes():
            node = by_name.get(name)
            if node is not None and node_state_type(node) == STATELESS:
                raise DescriptorError(f'entry node "{name}" cannot be {STATELESS} on stream pipeline')
    return parsed


def _defaults_to_stateless(node: Mapping[str, Any]) -> bool:
    """Whether a node counts as stateless for the entry rule: its `stateType` says so, or it
    has none and is an algorithm node (a dataSource node without one is not flagged)."""
    own = node.get("stateType")
    if own:
        return bool(own == STATELESS)
    return (node.get("kind") or "algorithm") in ("algorithm", "debug")


def check_entry_nodes(nodes: list[dict[str, Any]], parsed: ParsedStreaming) -> None:
    """Over the whole pipeline, a node no flow sends to (a flow's entry, or a node of no flow)
    must not be stateless, checked in descriptor order as HKube's graph check does after the
    flows' own entry check. Raises `DescriptorError`."""
    targets = {edge["target"] for edge in parsed.edges}
    for node in nodes:
        name = str(node.get("nodeName"))
        if name not in targets and _defaults_to_stateless(node):
            raise DescriptorError(f'entry node "{name}" cannot be {STATELESS} on stream pipeline')


def build_streaming(pipeline: Mapping[str, Any], *, check_entries: bool = True) -> ParsedStreaming | None:
    """The flows of `pipeline` by its kind: None for a batch pipeline (which may not have
    `streaming.flows`), the parsed flows of a stream one; raises `DescriptorError`."""
    streaming = pipeline.get("streaming")
    if (pipeline.get("kind") or "batch") != "stream":
        # JavaScript truthiness, as HKube tests it: an empty object counts as flows.
        if isinstance(streaming, Mapping) and streaming.get("flows") not in (None, "", 0, False):
            raise DescriptorError("streaming flow is only allowed in stream pipeline")
        return None
    return parse_flows(
        list(pipeline.get("nodes") or []),
        dict(streaming) if isinstance(streaming, Mapping) else None,
        check_entries=check_entries,
    )


def forced_retry(state_type: str) -> dict[str, Any]:
    """The retry HKube forces on a stream node: stateless `Never`, stateful `Always` x10000."""
    return dict(STREAM_RETRY.get(state_type, STREAM_RETRY[STATELESS]))
