"""A stream job at run time (docs/streaming.md): its nodes' long-lived tasks and its end.

- `dispatch_stream_job` (from `streams.start_stream_job`, in `start_job`'s transaction): every
  node's tasks go to its algorithm queue at once: one task per stateful node, and
  `minStatelessCount` replicas per stateless node (at least one: a flow sends to it, and a
  node with no replica would only fill its buffer until messages are dropped).
  A gateway node gets no task: the API serves it (`algorithms/gateway_ingress.py`).
- `stream_task_ended` (from the algorithm worker, after the task's row is recorded): a
  stateful node's task that succeeded (its `start` returned) completes the job, and the
  other nodes' tasks are stopped. Any other end (an error, a crash, a stop) changes nothing:
  task errors don't end a stream job (the worker restarts a failed algorithm itself).
A stream job otherwise ends by stop or TTL, as any job (`ending.py`, `expiry.py`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from pipelines.engine import dag, planning
from pipelines.models import Job, JobNode, JobStatus, NodeStatus, now_ms
from pipelines.services import sending
from pipelines.services.common import cluster, job_graph
from pipelines.services.ending import _finish_job, _stop_running_nodes
from pipelines.taskspec import for_stream, task_spec

log = logging.getLogger(__name__)

STATEFUL = "stateful"
STATELESS = "stateless"


def neighbours(parsed_flow: dict[str, list[dict[str, Any]]], node: str) -> tuple[list[str], list[str]]:
    """`(childs, parents)` of `node` over every flow, in first-seen order."""
    childs: dict[str, None] = {}
    parents: dict[str, None] = {}
    for steps in parsed_flow.values():
        for step in steps:
            following = [str(n) for n in step.get("next") or []]
            if step.get("source") == node:
                for name in following:
                    childs.setdefault(name)
            if node in following:
                parents.setdefault(str(step.get("source")))
    return list(childs), list(parents)


def replicas(descriptor: dict[str, Any]) -> int:
    """How many tasks a node starts with: 1 stateful, else `minStatelessCount` but at least 1."""
    if descriptor.get("stateType") == STATEFUL:
        return 1
    return max(1, int(descriptor.get("minStatelessCount") or 0))


def _flow_input_ref(job: Job) -> dict[str, Any] | None:
    metadata = job.pipeline.get("flowInputMetadata") or {}
    if not metadata.get("storageInfo"):
        return None
    return {"storageInfo": metadata["storageInfo"], "metadata": metadata.get("metadata", {})}


def dispatch_stream_job(job: Job, graph: dag.Graph) -> None:
    """Send every node's tasks (inside the job's lock; messages go after commit)."""
    streaming = job.pipeline.get("streaming") or {}
    parsed_flow = dict(streaming.get("parsedFlow") or {})
    default_flow = str(streaming.get("defaultFlow") or "")
    stamp = now_ms()
    for node in JobNode.objects.filter(job=job, status=NodeStatus.CREATING):
        descriptor = graph.nodes[node.node_name]
        if descriptor.get("kind") == "gateway":
            # Served by the API (algorithms/gateway_ingress.py): no task, no worker to wait for.
            JobNode.objects.filter(pk=node.pk, status=NodeStatus.CREATING).update(
                status=NodeStatus.ACTIVE, is_batch=False, total=1, start_time=stamp
            )
            continue
        plan = planning.plan_node(descriptor, outputs={}, flow_input=_flow_input_ref(job), cluster=cluster())
        childs, parents = neighbours(parsed_flow, node.node_name)
        state_type = str(descriptor.get("stateType") or STATELESS)
        spec = for_stream(
            task_spec(job, graph, node, descriptor, plan, cluster=cluster()),
            state_type=state_type,
            parsed_flow=parsed_flow,
            default_flow=default_flow,
            childs=childs,
            parents=parents,
        )
        count = replicas(descriptor)
        JobNode.objects.filter(pk=node.pk, status=NodeStatus.CREATING).update(
            status=NodeStatus.ACTIVE,
            is_batch=state_type != STATEFUL,
            total=count,
            spec=spec,
            start_time=stamp,
        )
        node_pk = node.pk

        def send(spec: Any = spec, count: int = count, node_pk: int = node_pk) -> None:
            celery_ids = sending.send_chunks(spec, [[i] for i in range(count)], inline_finish=True)
            JobNode.objects.filter(pk=node_pk).update(celery_ids=celery_ids)

        transaction.on_commit(send)


def stream_task_ended(job_id: str, node_name: str, status: str) -> None:
    """A stream task's row was recorded: a stateful node that succeeded completes the job."""
    if status != "succeed":
        return
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None or job.status != JobStatus.ACTIVE:
            return
        node = JobNode.objects.filter(job=job, node_name=node_name).first()
        if node is None or (node.spec or {}).get("stateType") != STATEFUL:
            return
        JobNode.objects.filter(pk=node.pk).update(status=NodeStatus.SUCCEED, end_time=now_ms())
        log.info("stream job %s: stateful node %s ended, the job completes", job_id, node_name)
        _finish_job(job, job_graph(job))
        _stop_running_nodes(job)  # the other nodes' tasks drain and stop


def stream_algorithms() -> dict[str, str]:
    """Algorithms serving nodes of running stream jobs -> `stateful` when one of those nodes
    is, else `stateless` (the executor places their work first, hkube-cluster.md)."""
    found: dict[str, str] = {}
    rows = JobNode.objects.filter(
        status=NodeStatus.ACTIVE, job__status=JobStatus.ACTIVE, job__pipeline__kind="stream"
    ).values_list("algorithm_name", "spec")
    for name, spec in rows:
        state = str((spec or {}).get("stateType") or STATELESS)
        if found.get(name) != STATEFUL:
            found[name] = state
    return found
