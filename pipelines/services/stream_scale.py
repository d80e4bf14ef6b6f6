"""Replicas of stateless stream nodes (docs/streaming.md, "Autoscaling"): the state changes the
autoscaler (`algorithms/stream_scaling.py`) asks for.

- `stream_nodes`: every stateless node of the running stream jobs, with its bounds and the
  batch indexes of its replicas (kept in the job's `scale` hash; at first, the node's tasks).
- `add_replicas`: more `run_items` tasks of the node (the next batch indexes).
- `stop_replicas`: the newest replicas get a `stopReplica` control message: the worker's stream
  task takes no new message, finishes its batch and stops (its row ends `stopped`).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

from hkube_site import redis_client as rc
from pipelines.models import Job, JobNode, JobStatus, NodeStatus
from pipelines.services import sending
from pipelines.taskspec import batch_index, stored

STATEFUL = "stateful"


@dataclass(frozen=True)
class StreamNode:
    job_id: str
    node_name: str
    algorithm_name: str
    minimum: int
    maximum: int | None
    replicas: tuple[int, ...]  # batch indexes running
    last_down: float | None


def running_stream_jobs() -> list[str]:
    return sorted(
        Job.objects.filter(status=JobStatus.ACTIVE, pipeline__kind="stream").values_list("job_id", flat=True)
    )


def median_throughput(job_id: str) -> float:
    """HKube's `progress` of a stream job: the median of its edges' throughput (messages/s)."""
    values = [float(f.get("throughput", 0.0)) for f in rc.stream_metrics(job_id).values()]
    return round(statistics.median(values), 2) if values else 0.0


def _replicas_field(node_name: str) -> str:
    return f"replicas:{node_name}"


def stream_nodes() -> list[StreamNode]:
    rows = JobNode.objects.filter(
        status=NodeStatus.ACTIVE, job__status=JobStatus.ACTIVE, job__pipeline__kind="stream"
    ).values_list("job__job_id", "node_name", "algorithm_name", "total", "spec", "job__pipeline")
    found: list[StreamNode] = []
    for job_id, node_name, algorithm_name, total, spec, pipeline in rows:
        if not spec or spec.get("stateType") == STATEFUL:
            continue
        descriptor: dict[str, Any] = next(
            (n for n in pipeline.get("nodes") or [] if n.get("nodeName") == node_name), {}
        )
        scale = rc.client().hmget(
            rc.stream_keys(job_id).scale, [_replicas_field(node_name), f"down:{node_name}"]
        )
        if scale[0]:
            replicas = tuple(int(i) for i in json.loads(scale[0]))
        else:
            replicas = tuple(batch_index(stored(spec), i) for i in range(int(total)))
        found.append(
            StreamNode(
                job_id=job_id,
                node_name=node_name,
                algorithm_name=algorithm_name,
                minimum=int(descriptor.get("minStatelessCount") or 0),
                maximum=int(descriptor["maxStatelessCount"]) if descriptor.get("maxStatelessCount") else None,
                replicas=replicas,
                last_down=float(scale[1]) if scale[1] else None,
            )
        )
    return found


def add_replicas(job_id: str, node_name: str, count: int) -> list[int]:
    """Send `count` more tasks of the node; returns their batch indexes."""
    node = JobNode.objects.filter(
        job__job_id=job_id, node_name=node_name, status=NodeStatus.ACTIVE, job__status=JobStatus.ACTIVE
    ).first()
    if node is None or count <= 0 or not node.spec:
        return []
    spec = stored(node.spec)
    keys = rc.stream_keys(job_id)
    raw = rc.client().hget(keys.scale, _replicas_field(node_name))
    running = [int(i) for i in json.loads(raw)] if raw else [batch_index(spec, i) for i in range(node.total)]
    positions = list(range(node.total, node.total + count))
    celery_ids = sending.send_chunks(spec, [[p] for p in positions], inline_finish=True)
    JobNode.objects.filter(pk=node.pk).update(
        total=node.total + count, celery_ids=[*node.celery_ids, *celery_ids]
    )
    added = [batch_index(spec, p) for p in positions]
    rc.client().hset(keys.scale, _replicas_field(node_name), json.dumps(running + added))
    return added


def stop_replicas(job_id: str, node_name: str, replicas: tuple[int, ...], count: int) -> list[int]:
    """Stop the `count` newest of `replicas` (draining first); returns their batch indexes."""
    ordered = sorted(replicas)
    keep, stop = ordered[: max(0, len(ordered) - count)], ordered[max(0, len(ordered) - count) :]
    keys = rc.stream_keys(job_id)
    pipe = rc.client().pipeline()
    pipe.hset(keys.scale, _replicas_field(node_name), json.dumps(keep))
    pipe.hset(keys.scale, f"down:{node_name}", str(time.time()))
    pipe.execute()
    for index in stop:
        rc.publish({"stopReplica": {"jobId": job_id, "nodeName": node_name, "batchIndex": index}})
    return stop
