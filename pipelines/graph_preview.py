"""Graph previews of a pipeline that has not run (`store/pipelines/graph`,
`exec/getGraphByStreamingFlow`), for the dashboard.

The descriptor gets the store-time checks (schema with defaults, then the DAG); the answer
is `{nodes, edges}` in the shapes of `graph/raw`, without run state. `keyFlow` and
`isBuildAllFlows` (stream pipelines' flows) are accepted and not used: every node shows."""

from __future__ import annotations

import copy
from typing import Any

from hkube_site.errors import InvalidData, NotFound
from hkube_site.validation import validate
from pipelines import schema
from pipelines.engine import dag
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
    return graph_preview(checked["pipeline"])


def streaming_flow_request(body: object) -> dict[str, Any]:
    """`exec/getGraphByStreamingFlow`: the same preview with HKube's bare `{from, to}` edges."""
    preview = preview_request(body)
    return {**preview, "edges": [{"from": e["from"], "to": e["to"]} for e in preview["edges"]]}


def stored_graph_preview(name: str) -> dict[str, Any]:
    schema.validate_pipeline_name(name)
    stored = Pipeline.objects.filter(name=name).first()
    if stored is None:
        raise NotFound("pipeline", name)
    return graph_preview(stored.descriptor)


def graph_preview(descriptor: dict[str, Any]) -> dict[str, Any]:
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
