"""The status and result objects of `exec/status` and `exec/results`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import Count

from hkube_site import redis_client as rc
from hkube_site import tracing
from hkube_site.errors import InvalidData
from hkube_site.object_store import get_storage
from pipelines import ports
from pipelines.engine import results as engine_results
from pipelines.graph import scheduling_warnings, unrecorded_states
from pipelines.models import (
    FINAL_JOB_STATUSES,
    Job,
    JobNode,
    JobStatus,
    NodeStatus,
    Task,
)
from pipelines.services.stream_scale import median_throughput


def status_data(job: Job) -> dict[str, Any]:
    """`status.data` (progress, states, details) from the nodes and their task rows; while
    nodes wait for an algorithm that cannot get a worker, also `warnings` (ours: HKube
    shows them on the graph's nodes only), one line per such node."""
    nodes = list(
        JobNode.objects.filter(job=job).values("node_name", "algorithm_name", "status", "total", "is_batch")
    )
    counts: Counter[str] = Counter()
    rows = (
        Task.objects.filter(job=job)
        .values_list("node_name", "status")
        .annotate(n=Count("id"))
        .values_list("node_name", "status", "n")
    )
    per_node: dict[str, Counter[str]] = {}
    for node_name, status, n in rows:
        per_node.setdefault(node_name, Counter())[status] += n
    active = rc.active_counts(job.job_id) if job.status == JobStatus.ACTIVE else {}
    unscheduled = scheduling_warnings(job, any(n["status"] == NodeStatus.ACTIVE for n in nodes))
    warnings: list[str] = []
    total = 0
    for node in nodes:
        name = node["node_name"]
        if node["status"] == NodeStatus.SKIPPED:
            counts["skipped"] += 1
            total += 1
            continue
        node_total = max(1, node["total"])
        total += node_total
        recorded = per_node.get(name, Counter())
        counts.update(recorded)
        remaining = node_total - sum(recorded.values())
        warning = unscheduled.get(node["algorithm_name"])
        unrecorded = unrecorded_states(
            node["status"], remaining, active.get(name, 0), unscheduled=bool(warning)
        )
        counts.update(unrecorded)
        if warning and unrecorded.get("failedScheduling"):
            warnings.append(f"node {name} waits for algorithm {node['algorithm_name']}: {warning}")
    states = {k: v for k, v in counts.items() if v}
    progress, details = engine_results.progress(states, total or 1)
    data: dict[str, Any] = {"progress": progress, "states": states, "details": details}
    if job.pipeline.get("kind") == "stream":
        # HKube: progress is the median throughput of the edges, details just the states.
        data["progress"] = median_throughput(job.job_id)
        data["details"] = details.split("completed, ", 1)[-1]
        data["metrics"] = rc.stream_metrics(job.job_id)
    if warnings:
        data["warnings"] = warnings
    return data


def _freeze_status(job_id: str) -> None:
    job = Job.objects.get(job_id=job_id)
    Job.objects.filter(job_id=job_id).update(status_data=status_data(job))


def status_object(job: Job) -> dict[str, Any]:
    data = job.status_data if job.status in FINAL_JOB_STATUSES and job.status_data else status_data(job)
    body: dict[str, Any] = {
        "jobId": job.job_id,
        "timestamp": job.status_timestamp,
        "pipeline": job.pipeline_name,
        "status": job.status,
        "level": job.level,
        "data": data,
    }
    if job.active_time:
        body["activeTime"] = job.active_time
    if job.status in FINAL_JOB_STATUSES and job.end_time:
        if job.active_time:
            body["netTimeTook"] = round((job.end_time - job.active_time) / 1000, 3)
        body["grossTimeTook"] = round((job.end_time - job.start_time) / 1000, 3)
    trace_id = tracing.job_trace_id(job.job_id)  # only when tracing is on
    if trace_id:
        body["traceId"] = trace_id
    if job.error:
        body["error"] = job.error
        if job.error_node:
            body["nodeName"] = job.error_node
    if job.reason:
        body["reason"] = job.reason
    # Where a developer connects to serve a running job's debug nodes (none: nothing added).
    if job.status not in FINAL_JOB_STATUSES and (debug_nodes := ports.get().debug_nodes(job.pipeline)):
        body["debug"] = debug_nodes
    return body


def result_object(job: Job) -> dict[str, Any]:
    if job.result is None:
        raise InvalidData(
            f"unable to get results for pipeline {job.pipeline_name} because its in {job.status} status"
        )
    body: dict[str, Any] = {"jobId": job.job_id, **job.result}
    data = body.get("data")
    if isinstance(data, dict) and data.get("storageInfo"):
        try:
            body["data"] = get_storage().get(data["storageInfo"]["path"])
        except Exception as exc:  # noqa: BLE001 - reported in the body, as HKube does
            body["data"] = None
            body["error"] = f"failed to get from storage: {exc}"
        body["storageModule"] = get_storage().adapter.name
    return body
