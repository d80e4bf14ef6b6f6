"""A job's and its nodes' spans, written once the job ended (`hkube_site.tracing`).

They span processes and minutes, so no process holds them open: their start and end
come from the rows, and their ids are derived from the job id, which is how the task
spans the workers wrote meanwhile already point at them."""

from __future__ import annotations

from hkube_site import tracing
from pipelines.models import Job, JobNode


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
