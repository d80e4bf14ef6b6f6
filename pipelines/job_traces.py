"""A job's and its nodes' spans, written once the job ended (`hkube_site.tracing`).

They span processes and minutes, so no process holds them open: their start and end
come from the rows, and their ids are derived from the job id, which is how the task
spans the workers wrote meanwhile already point at them."""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

from hkube_site import tracing
from hkube_site.errors import ApiError, NotFound
from pipelines.models import Job, JobNode

JAEGER_TIMEOUT_SECONDS = 10


class JaegerUnreachable(ApiError):
    status = 502


def job_trace(job_id: str) -> dict[str, Any]:
    """`GET jaeger?jobId=`: the job's trace as Jaeger's query API answers it
    (`{data: [trace]}`), read by the trace id derived from the job id; `{data: []}` when
    tracing is off, no Jaeger is configured, or Jaeger has no such trace yet."""
    if not Job.objects.filter(job_id=job_id).exists():
        raise NotFound("jobId", job_id)
    trace_id = tracing.job_trace_id(job_id)
    base = str(getattr(settings, "HKUBE_JAEGER_URL", "") or "")
    if trace_id is None or not base:
        return {"data": []}
    try:
        response = requests.get(f"{base.rstrip('/')}/api/traces/{trace_id}", timeout=JAEGER_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise JaegerUnreachable(f"jaeger is unreachable: {exc}") from exc
    if response.status_code == 404:
        return {"data": []}
    if not response.ok:
        raise JaegerUnreachable(f"jaeger answered {response.status_code}")
    try:
        body: dict[str, Any] = response.json()
    except ValueError as exc:
        raise JaegerUnreachable("jaeger answered something other than JSON") from exc
    return body


def job_ended(job_id: str) -> None:
    if not tracing.enabled():
        return
    job = (
        Job.objects.filter(job_id=job_id)
        .only("pipeline_name", "start_time", "end_time", "status", "error")
        .first()
    )
    if job is None:
        return
    end = job.end_time or job.start_time
    tracing.write_job(job_id, job.pipeline_name, job.start_time, end, job.status, job.error)
    for node in JobNode.objects.filter(job_id=job_id).order_by("position"):
        if node.start_time is None:
            continue  # never dispatched: no span
        tracing.write_node(
            job_id,
            node.node_name,
            node.algorithm_name,
            node.start_time,
            node.end_time or end,
            node.status,
            node.error,
        )
