"""Graph previews of a pipeline that has not run (`store/pipelines/graph`), for the dashboard.

The descriptor gets the store-time checks (schema with defaults, then the DAG); the answer
is `{nodes, edges}` in the shapes of `graph/raw`, without run state.

A stream pipeline is drawn from its flows instead, as `exec/getGraphByStreamingFlow` draws it
(HKube answers both the same way): `{nodes: <the descriptor's nodes>, edges: [{from, to}]}`
for the flow `keyFlow` (else the default flow, else the first), or every flow with
`isBuildAllFlows` (HKube accepts that key and ignores it)."""

from __future__ import annotations

import copy
from typing import Any

from hkube_site.errors import InvalidData, NotFound
from hkube_site.validation import validate
from pipelines import schema
from pipelines.engine import dag, streaming
from pipelines.models import Pipeline

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pipeline": {"type": "object"},
        "keyFlow": {"type": "string"},
        "isBuildAllFlows": {"type": "boolean"},
    },
    "required": ["pipeline"],
}


def preview_request(body: object) -> dict[str, Any]:
    checked: dict[str, Any] = validate(REQUEST_SCHEMA, body, use_defaults=False)
    if (checked["pipeline"].get("kind") or "batch") == "stream":
        return streaming_flow_graph(body)
    return graph_preview(checked["pipeline"])


def streaming_flow_graph(body: object) -> dict[str, Any]:
    """`POST exec/getGraphByStreamingFlow` (`{pipeline, keyFlow?, isBuildAllFlows?}`): the
    flow's graph; a batch pipeline (which may not carry flows) is drawn from its references."""
    checked: dict[str, Any] = validate(REQUEST_SCHEMA, body, use_defaults=False)
    pipeline: dict[str, Any] = checked["pipeline"]
    nodes = pipeline.get("nodes")
    if not isinstance(nodes, list) or not all(isinstance(node, dict) for node in nodes):
        raise InvalidData("data.pipeline.nodes should be array")
    flows = pipeline.get("streaming")
    try:
        if (pipeline.get("kind") or "batch") != "stream":
            streaming.build_streaming(pipeline)
            descriptor = schema.validate_pipeline(copy.deepcopy(pipeline), use_defaults=True)
            graph = dag.build_graph(descriptor, check_flow_input=False)
            return {"nodes": nodes, "edges": [{"from": s, "to": t} for s, t in graph.edges]}
        edges = streaming.preview_edges(
            nodes,
            flows if isinstance(flows, dict) else None,
            key_flow=checked.get("keyFlow"),
            all_flows=bool(checked.get("isBuildAllFlows")),
        )
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc
    return {"nodes": nodes, "edges": [{"from": e["source"], "to": e["target"]} for e in edges]}


def stored_graph_preview(name: str) -> dict[str, Any]:
    schema.validate_pipeline_name(name)
    stored = Pipeline.objects.filter(name=name).first()
    if stored is None:
        raise NotFound("pipeline", name)
    return graph_preview(stored.descriptor)


def graph_preview(descriptor: dict[str, Any]) -> dict[str, Any]:
    if (descriptor.get("kind") or "batch") == "stream":
        return streaming_flow_graph({"pipeline": descriptor})
    descriptor = schema.validate_pipeline(copy.deepcopy(descriptor), use_defaults=True)
    try:
        graph = dag.build_graph(descriptor, check_flow_input=False)
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc
    levels = graph.levels()
    nodes = [
        {
            "nodeName": name,
            "algorithmName": node.get("algorithmName", ""),
            "kind": node.get("kind", "algorithm"),
            "input": node.get("input") or [],
            "level": levels.get(name, 0),
        }
        for name, node in graph.nodes.items()
    ]
    edges = [
        {"from": source, "to": target, "value": {"types": list(types)}}
        for (source, target), types in graph.edges.items()
    ]
    return {"nodes": nodes, "edges": edges}
