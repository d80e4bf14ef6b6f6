"""Stream pipelines (`kind: stream`) at submission, and where a stream job starts.

The checks run where HKube runs them (hkube-api §3.1.1, §3.3, §4.6):
- `check_stream_rules` (store and exec, after the schema and the DAG): the replica counts
  (`minStatelessCount`/`maxStatelessCount` only on stateless nodes, min <= max);
- `check_gateway_nodes` (store, after the algorithms): a gateway node's `stateType`;
- `prepare_stream` (exec, once the algorithms are known to exist): the `stateType` of
  every node with an algorithm (its own, else its algorithm's, else stateless; a gateway is
  stateful) and the forced retry (a gateway's is stateful's: HKube gives it stateless's),
  the gateway nodes' algorithm names, and the parsed flows: `edges` of type `customStream`,
  `streaming.parsedFlow`, `streaming.defaultFlow`, `streaming.gateways`; then no node
  outside the flows' targets may be stateless (HKube's graph check at exec);
- `create_gateways` (exec, in the job's transaction): the `<name>-gateway` algorithms,
  removed by `job_ended` when the job ends.

A node's state type is resolved before the replica-count rule: HKube reads only the node's
own `stateType` there, so a node that leaves it to its algorithm cannot set
`maxStatelessCount`; here it can when the resolved type is stateless.

`start_stream_job` is the one place a stream job starts (the driver's `start_job` hands
stream jobs to it instead of dispatching batch nodes).
"""

from __future__ import annotations

import logging
from typing import Any

from hkube_site.errors import InvalidData
from pipelines import ports
from pipelines.engine import dag, ids, streaming
from pipelines.models import Job

log = logging.getLogger(__name__)


def is_stream(pipeline: dict[str, Any] | None) -> bool:
    return (pipeline or {}).get("kind") == "stream"


def state_types(descriptor: dict[str, Any]) -> dict[str, str]:
    """nodeName -> the node's state type in a stream pipeline (see the module's note)."""
    nodes = descriptor.get("nodes") or []
    names = {str(n["algorithmName"]) for n in nodes if n.get("algorithmName")}
    of_algorithm = ports.get().state_types(names) if names else {}
    return {
        str(node.get("nodeName")): streaming.node_state_type(
            node, of_algorithm.get(str(node.get("algorithmName")))
        )
        for node in nodes
    }


def check_stream_rules(descriptor: dict[str, Any]) -> None:
    """The replica-count rules of a stream pipeline; raises `InvalidData`."""
    if not is_stream(descriptor):
        return
    try:
        streaming.check_stateless_counts(descriptor.get("nodes") or [], state_types(descriptor))
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc


def check_gateway_nodes(descriptor: dict[str, Any]) -> None:
    """A gateway node's `stateType`, if given, is stateful (store: after the algorithms)."""
    try:
        streaming.check_gateway_nodes(descriptor.get("nodes") or [])
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc


def prepare_stream(descriptor: dict[str, Any]) -> dict[str, Any]:
    """The executed descriptor of a stream pipeline (a batch one is returned as given, and may
    not carry `streaming.flows`); raises `InvalidData` with HKube's messages."""
    try:
        if not is_stream(descriptor):
            streaming.build_streaming(descriptor)
            return descriptor
        resolved = state_types(descriptor)
        nodes = [dict(node) for node in descriptor.get("nodes") or []]
        gateways: list[dict[str, str]] = []
        taken: set[str] = set()
        for node in nodes:
            if node.get("kind") == "gateway":
                streaming.check_gateway_nodes([node])
                gateways.append(_gateway_of(node, taken))
                node["stateType"] = streaming.STATEFUL
            elif node.get("algorithmName") and not node.get("stateType"):
                node["stateType"] = resolved[str(node.get("nodeName"))]
            node["retry"] = streaming.forced_retry(node.get("stateType") or streaming.STATELESS)
        parsed = streaming.parse_flows(nodes, descriptor.get("streaming"))
        streaming.check_entry_nodes(nodes, parsed)
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc
    field = parsed.streaming_field(descriptor.get("streaming"))
    if gateways:
        field["gateways"] = gateways
    return {**descriptor, "nodes": nodes, "edges": parsed.edges, "streaming": field}


def _gateway_of(node: dict[str, Any], taken: set[str]) -> dict[str, str]:
    """Name a gateway node's algorithm (`spec.name`, else a uid(8)) and its URL; the node's
    `algorithmName` is set, the algorithm itself is created with the job (`create_gateways`).
    `taken`: the gateway algorithms named so far in this submission."""
    spec = node.get("spec") or {}
    gateway_name = str(spec.get("name") or ids.uid(8))
    algorithm_name = streaming.gateway_algorithm_name(gateway_name)
    if algorithm_name in taken or ports.get().existing([algorithm_name]):
        raise InvalidData(f"gateway {algorithm_name} already exists")
    taken.add(algorithm_name)
    node["algorithmName"] = algorithm_name
    return {"nodeName": str(node.get("nodeName")), "url": streaming.gateway_url(gateway_name)}


def gateways_of(pipeline: dict[str, Any] | None) -> list[dict[str, str]] | None:
    """The exec answer's `gateways` (`[{nodeName, url}]`), None unless a stream job has some."""
    if not is_stream(pipeline):
        return None
    listed = ((pipeline or {}).get("streaming") or {}).get("gateways")
    return [{"nodeName": g["nodeName"], "url": g["url"]} for g in listed] if listed else None


def create_gateways(job_id: str, pipeline: dict[str, Any]) -> None:
    """Create the gateway algorithms of a stream job being submitted (inside its transaction)."""
    urls = {g["nodeName"]: g["url"] for g in gateways_of(pipeline) or []}
    for node in pipeline.get("nodes") or []:
        name = str(node.get("nodeName"))
        if node.get("kind") != "gateway" or name not in urls:
            continue
        ports.get().create_gateway(
            gateway_name=urls[name].rsplit("/", 1)[-1],
            url=urls[name],
            job_id=job_id,
            node_name=name,
            spec=dict(node.get("spec") or {}),
        )


def job_ended(job: Job) -> None:
    """A stream job ended (completed, failed or stopped): its gateway algorithms go, as HKube
    removes them once the job has its result."""
    if not is_stream(job.pipeline):
        return
    names = [str(n["algorithmName"]) for n in job.pipeline.get("nodes") or [] if n.get("kind") == "gateway"]
    if names:
        ports.get().delete_gateways(names)


def parsed_streaming(job: Job) -> streaming.ParsedStreaming:
    """A stream job's flows, as stored on its executed pipeline at submission."""
    field = (job.pipeline or {}).get("streaming") or {}
    return streaming.ParsedStreaming(
        parsed_flow=dict(field.get("parsedFlow") or {}),
        edges=list((job.pipeline or {}).get("edges") or []),
        default_flow=str(field.get("defaultFlow") or ""),
    )


def start_stream_job(job: Job, graph: dag.Graph) -> None:
    """A stream job became active and its node rows exist (`driver.start_job`, in its
    transaction); the driver then sends its nodes' long-lived tasks (`stream_run.py`)."""
    flows = parsed_streaming(job)
    log.info(
        "stream job %s active: entry nodes %s, default flow %s",
        job.job_id,
        flows.entry_nodes(),
        flows.default_flow,
    )
