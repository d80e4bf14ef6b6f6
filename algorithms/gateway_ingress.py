"""Gateways' HTTP ingress (docs/streaming.md, "Gateways").

A stream job's gateway node (`kind: gateway`, its URL `hkube/gateway/<name>` in the exec
answer) has no algorithm process: the API serves it. `POST /hkube/gateway/<name>/streaming/message`
(HKube's gateway algorithm's route, `?flow=<flowName>` optional) puts the body into the flow as a
message from the gateway node: one `XADD` per next node through the transport's `Producer`,
exactly as a relay sends a node's output. `GET .../streaming/info` answers the job's data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from algorithms.runtime.streams.relay import next_nodes
from algorithms.runtime.streams.transport import PACKER, Producer
from hkube_site import redis_client as rc
from hkube_site.errors import InvalidData, NotFound
from pipelines.engine import streaming
from pipelines.models import FINAL_JOB_STATUSES, Job


@dataclass(frozen=True)
class Gateway:
    job_id: str
    pipeline_name: str
    node_name: str
    flows: dict[str, list[dict[str, Any]]]
    default_flow: str


def find(gateway_name: str) -> Gateway:
    """The job (running or about to) whose gateway is `gateway_name`; `NotFound` (HKube's
    envelope) when there is none (never existed, or its job ended)."""
    url = streaming.gateway_url(gateway_name)
    # A job not started yet takes messages too: they wait in the streams for the next nodes.
    jobs = (
        Job.objects.filter(pipeline__kind="stream")
        .exclude(status__in=FINAL_JOB_STATUSES)
        .values_list("job_id", "pipeline_name", "pipeline")
    )
    for job_id, pipeline_name, pipeline in jobs:
        stream = pipeline.get("streaming") or {}
        for entry in stream.get("gateways") or []:
            if entry.get("url") == url:
                return Gateway(
                    job_id=job_id,
                    pipeline_name=pipeline_name,
                    node_name=str(entry["nodeName"]),
                    flows=dict(stream.get("parsedFlow") or {}),
                    default_flow=str(stream.get("defaultFlow") or ""),
                )
    raise NotFound("gateway", gateway_name)


def send(gateway: Gateway, message: Any, flow: str | None) -> dict[str, Any]:
    """Put `message` into the flow from the gateway node; the ack."""
    flow_name = flow or gateway.default_flow
    if flow_name not in gateway.flows:
        raise InvalidData(f"flow {flow_name} does not exist")
    targets = next_nodes(gateway.flows, flow_name, gateway.node_name)
    producer = Producer(
        rc.client(command_packer=PACKER),
        rc.stream_keys(gateway.job_id),
        gateway.node_name,
        max_buffer_bytes=int(settings.STREAMING_MAX_BUFFER_MB) * 1024 * 1024,
    )
    message_id = f"{gateway.node_name}.gw:{uuid.uuid4().hex}"
    dropped = producer.send(targets, message, message_id, flow_name)
    return {"message": "OK", "jobId": gateway.job_id, "flow": flow_name, "sent": len(targets) - len(dropped)}


def info(gateway: Gateway) -> dict[str, Any]:
    """HKube's gateway `streaming/info`: the job's data."""
    return {"jobId": gateway.job_id, "pipelineName": gateway.pipeline_name, "nodeName": gateway.node_name}
