"""How jobs end: completed (results assembled), failed, stopped."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from hkube_site import redis_client as rc
from hkube_site.errors import Missing
from hkube_site.object_store import get_storage
from pipelines import events, outputs
from pipelines.engine import dag
from pipelines.engine import results as engine_results
from pipelines.models import (
    FINAL_NODE_STATUSES,
    RUNNING_JOB_STATUSES,
    SUB_PIPELINE_TYPE,
    Job,
    JobNode,
    JobStatus,
    NodeStatus,
    Task,
    TaskStatus,
    now_ms,
)
from pipelines.services import holding, streams
from pipelines.services.common import audit_user, cluster
from pipelines.services.status import _freeze_status
from storage import paths


def _result(job: Job, status: str, stamp: int, **extra: Any) -> dict[str, Any]:
    """The job's result object (HKube §6.3) without jobId; `data` stays a storage reference."""
    fields = {"startTime": job.start_time, "pipeline": job.pipeline_name, "status": status}
    return {**fields, **extra, "timestamp": stamp, "timeTook": round((stamp - job.start_time) / 1000, 3)}


def _stop_running_nodes(job: Job) -> None:
    running = list(JobNode.objects.filter(job=job).exclude(status__in=FINAL_NODE_STATUSES))
    celery_ids = [i for n in running for i in (n.celery_ids or [])]
    JobNode.objects.filter(pk__in=[n.pk for n in running]).update(
        status=NodeStatus.STOPPED, end_time=now_ms()
    )
    job_id = job.job_id

    def signal() -> None:
        from hkube_site.celery import app

        rc.mark_job_stopped(job_id)
        if celery_ids:
            app.control.revoke(celery_ids)

    transaction.on_commit(signal)


def _fail_job(job: Job, error: str, node_name: str | None) -> None:
    stamp = now_ms()
    changed = Job.objects.filter(job_id=job.job_id, status=JobStatus.ACTIVE).update(
        status=JobStatus.FAILED,
        level="error",
        error=error,
        error_node=node_name,
        end_time=stamp,
        status_timestamp=stamp,
        result=_result(
            job, JobStatus.FAILED, stamp, error=error, **({"nodeName": node_name} if node_name else {})
        ),
    )
    if changed:
        _freeze_status(job.job_id)
        _stop_running_nodes(job)
        events.status_changed(job, JobStatus.FAILED, "error")
        events.finished(job.job_id)
        holding.job_ended(job)
        streams.job_ended(job)
        _stop_sub_pipelines(job.job_id, f"parent pipeline failed. {error}")


def _finish_job(job: Job, graph: dag.Graph) -> None:
    data = assemble_results(job, graph)
    result_path = paths.job_result(cluster(), job.job_id)
    get_storage().put(result_path, data)
    stamp = now_ms()
    changed = Job.objects.filter(job_id=job.job_id, status=JobStatus.ACTIVE).update(
        status=JobStatus.COMPLETED,
        end_time=stamp,
        status_timestamp=stamp,
        result=_result(job, JobStatus.COMPLETED, stamp, data={"storageInfo": {"path": result_path}}),
    )
    if changed:
        _freeze_status(job.job_id)
        job_id = job.job_id
        transaction.on_commit(lambda: rc.clear_active(job_id))
        events.status_changed(job, JobStatus.COMPLETED)
        events.finished(job_id)
        holding.job_ended(job)
        streams.job_ended(job)


def assemble_results(job: Job, graph: dag.Graph) -> list[dict[str, Any]]:
    """Sinks plus nodes flagged includeInResults/includeInResult, one entry per item."""
    storage = get_storage()
    threshold = int(settings.HKUBE_RESULTS_THRESHOLD)
    nodes = {n.node_name: n for n in JobNode.objects.filter(job=job)}
    data: list[dict[str, Any]] = []
    for name in engine_results.result_nodes(graph):
        node = nodes[name]
        algorithm = node.algorithm_name
        if node.status == NodeStatus.SKIPPED:
            continue
        rows = Task.objects.filter(job=job, node_name=name).order_by("batch_index")
        for task in rows.iterator(chunk_size=2000):
            entry: dict[str, Any] = {"nodeName": name, "algorithmName": algorithm}
            if node.is_batch:
                entry["batchIndex"] = task.batch_index
            if task.status == TaskStatus.SUCCEED and task.result:
                info = task.result.get("storageInfo") or {}
                size = info.get("size")
                if size is None:
                    size = storage.adapter.size(info["path"])
                if size >= threshold:
                    entry["info"] = outputs.big_data_info(info["path"], size)
                else:
                    entry["result"] = storage.get(info["path"])
            else:
                entry["error"] = task.error or task.status
            data.append(entry)
    return data


def stop_job(job_id: str, reason: str = "stopped due to request") -> bool:
    """Stop one job: queued tasks revoked, running algorithms told to stop."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None:
            return False
        stamp = now_ms()
        changed = Job.objects.filter(job_id=job_id, status__in=RUNNING_JOB_STATUSES).update(
            status=JobStatus.STOPPED,
            reason=reason,
            end_time=stamp,
            status_timestamp=stamp,
            result=_result(job, JobStatus.STOPPED, stamp, reason=reason),
            audit_trail=[{"timestamp": stamp, "user": audit_user(), "action": "stop"}, *job.audit_trail],
        )
        if not changed:
            return False
        _freeze_status(job_id)
        _stop_running_nodes(job)
        events.status_changed(job, JobStatus.STOPPED)
        events.finished(job_id)
        holding.job_ended(job)
        streams.job_ended(job)
        _stop_sub_pipelines(job_id, f"parent pipeline stopped. {reason}")
    return True


def _stop_sub_pipelines(job_id: str, reason: str) -> None:
    """Stop cascades: the job's running sub-pipelines are stopped after commit."""
    transaction.on_commit(lambda: stop_children(job_id, reason))


def stop_children(job_id: str, reason: str) -> list[str]:
    """Stop the running sub-pipelines of a job (each stop cascades to its own children)."""
    running = Job.objects.filter(parent_job_id=job_id, status__in=RUNNING_JOB_STATUSES)
    children = [j.job_id for j in running.only("job_id", "types") if SUB_PIPELINE_TYPE in (j.types or [])]
    return [child for child in children if stop_job(child, reason)]


def stop_jobs(
    *,
    job_id: str | None = None,
    pipeline_name: str | None = None,
    statuses: list[str] | None = None,
    date_from: int | None = None,
    date_to: int | None = None,
    reason: str | None = None,
) -> list[str]:
    """HKube's bulk stop: a search (newest first, at most 100), then each job stopped."""
    statuses = statuses or ["active", "pending", "paused"]
    query = Job.objects.all()
    needle = job_id or pipeline_name
    if needle:
        from django.db.models import Q

        query = query.filter(Q(job_id=needle) | Q(external_id=needle) | Q(pipeline_name=needle))
    if date_from is not None:
        query = query.filter(start_time__gte=date_from)
    if date_to is not None:
        query = query.filter(start_time__lte=date_to)
    wanted = set(statuses) | ({JobStatus.RESUMED} if "paused" in statuses else set())
    hits = [j for j in query.order_by("-start_time")[:100] if j.status in wanted]
    stopped = [j.job_id for j in hits if stop_job(j.job_id, reason or "stopped due to request")]
    if not stopped:
        criteria = []
        if job_id:
            criteria.append(f"jobId: {job_id}")
        if pipeline_name:
            criteria.append(f"pipelineName: {pipeline_name}")
        if date_from is not None or date_to is not None:
            criteria.append(f"datesRange: {date_from} to {date_to}")
        criteria.append(f"statuses: {','.join(statuses)}")
        raise Missing(f"No jobs found matching criteria ({', '.join(criteria)})")
    return stopped
