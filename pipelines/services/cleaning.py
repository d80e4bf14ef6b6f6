"""Cleaning old jobs by age (HKube's gc-service `storage` cleaner, and removing the history of
jobs long finished), called by `algorithms.gc`. A cleaner returns the jobIds it cleaned (or,
dry, would clean); storage goes after the rows' commit."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from hkube_site import redis_client as rc
from hkube_site.object_store import get_storage
from pipelines.models import FINAL_JOB_STATUSES, Job, WebhookDelivery
from pipelines.services.common import cluster
from storage import paths


def remove_job_data(job_ids: list[str]) -> None:
    """The jobs' outputs, flowInputs, results and logs in storage, and a stream job's
    streams and per-edge counters in Redis."""
    storage = get_storage()
    for job_id in job_ids:
        rc.delete_stream_keys(job_id)
        storage.adapter.delete_prefix(f"{paths.bucket(cluster())}/{job_id}/")
        for kind in ("results", "logs"):
            storage.adapter.delete_prefix(f"{paths.bucket(cluster(), kind)}/{job_id}/")


def _finished_before(cutoff_ms: int) -> list[str]:
    ended = Q(end_time__lt=cutoff_ms) | Q(end_time__isnull=True, status_timestamp__lt=cutoff_ms)
    jobs = Job.objects.filter(ended, status__in=FINAL_JOB_STATUSES).order_by("start_time")
    return list(jobs.values_list("job_id", flat=True))


def clean_jobs(cutoff_ms: int, *, dry_run: bool) -> list[str]:
    """Jobs that ended before the cutoff: their rows (nodes, tasks, webhook deliveries) and
    everything they stored."""
    job_ids = _finished_before(cutoff_ms)
    if dry_run or not job_ids:
        return job_ids
    with transaction.atomic():
        WebhookDelivery.objects.filter(job_id__in=job_ids).delete()
        Job.objects.filter(job_id__in=job_ids, status__in=FINAL_JOB_STATUSES).delete()
        transaction.on_commit(lambda: remove_job_data(job_ids))
    return job_ids


def clean_job_storage(cutoff_ms: int, *, dry_run: bool) -> list[str]:
    """HKube's temporary data of jobs that ended before the cutoff: the task outputs and the
    flowInput (`<cluster>-hkube/<jobId>/`). The job, its results and its logs stay."""
    adapter = get_storage().adapter
    cleaned = []
    for job_id in _finished_before(cutoff_ms):
        prefix = f"{paths.bucket(cluster())}/{job_id}/"
        if not adapter.list(prefix):
            continue
        if not dry_run:
            adapter.delete_prefix(prefix)
        cleaned.append(job_id)
    return cleaned
