"""The queue of jobs waiting to start (`queue/*`, HKube's pipeline-driver-queue API).

A waiting job is `pending`: held for a concurrency slot, or about to be started by the
engine. The `preferred` queue is the ones a user moved there (`Job.preferred_rank`, in
order; released first), the `managed` queue the rest, ordered by HKube's score
`0.5·(6 - priority)/5 + 0.5·(now - entranceTime)/1h`, highest first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from django.db import transaction
from django.db.models import QuerySet

from hkube_site.errors import InvalidData
from pipelines.models import Job, JobStatus, now_ms

POSITIONS = ("first", "last", "before", "after")
HOUR_MS = 3600 * 1000
Queue = Literal["managed", "preferred"]


@dataclass(frozen=True)
class Page:
    """One page of a queue: `firstJobId` pages back, `lastJobId` forward, `lastJobs` the end."""

    size: int = 10
    first_job_id: str | None = None
    last_job_id: str | None = None
    last_jobs: bool = False
    pipeline_name: str | None = None
    tag: str | None = None


def _waiting() -> QuerySet[Job]:
    return Job.objects.filter(status=JobStatus.PENDING)


def _item(job: Job) -> dict[str, Any]:
    return {
        "jobId": job.job_id,
        "experimentName": job.experiment,
        "pipelineName": job.pipeline_name,
        "priority": job.priority,
        "maxExceeded": job.max_exceeded,
        "entranceTime": job.start_time,
        "tags": job.tags or [],
    }


def _score(job: Job, now: int) -> float:
    return 0.5 * (6 - job.priority) / 5 + 0.5 * (now - job.start_time) / HOUR_MS


def _ordered(queue: Queue) -> list[Job]:
    if queue == "preferred":
        return list(_waiting().filter(preferred_rank__isnull=False).order_by("preferred_rank", "start_time"))
    now = now_ms()
    managed = _waiting().filter(preferred_rank__isnull=True)
    return sorted(managed, key=lambda job: (-_score(job, now), job.start_time))


def queue_count() -> dict[str, int]:
    preferred = _waiting().filter(preferred_rank__isnull=False).count()
    return {"managed": _waiting().count() - preferred, "preferred": preferred}


def queue_page(queue: Queue, page: Page) -> dict[str, Any]:
    jobs = [
        job
        for job in _ordered(queue)
        if (not page.pipeline_name or job.pipeline_name == page.pipeline_name)
        and (not page.tag or page.tag in (job.tags or []))
    ]
    ids = [job.job_id for job in jobs]
    if page.last_jobs:
        start = max(0, len(jobs) - page.size)
    elif page.first_job_id in ids:
        start = max(0, ids.index(page.first_job_id) - page.size)
    elif page.last_job_id in ids:
        start = ids.index(page.last_job_id) + 1
    else:
        start = 0
    end = min(len(jobs), start + page.size)
    if page.first_job_id in ids and not page.last_jobs:
        end = min(end, ids.index(page.first_job_id))
    return {
        "returnList": [_item(job) for job in jobs[start:end]],
        "prevCount": start,
        "nextCount": len(jobs) - end,
    }


def queue_aggregation(queue: Queue, by: Literal["pipeline", "tag"]) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    for job in _ordered(queue):
        counts.update((job.tags or []) if by == "tag" else [job.pipeline_name])
    return [{"name": name, "count": count} for name, count in counts.items()]


def _matches(job: Job, query: dict[str, Any]) -> bool:
    if query.get("jobId"):
        return bool(job.job_id == query["jobId"])
    if query.get("tag"):
        return bool(query["tag"] in (job.tags or []))
    return bool(query.get("pipelineName") and job.pipeline_name == query["pipelineName"])


def _insert_at(preferred: list[Job], position: str, query: dict[str, Any]) -> int:
    if position == "first":
        return 0
    if position == "last":
        return len(preferred)
    places = [i for i, job in enumerate(preferred) if _matches(job, query)]
    if not places:
        raise InvalidData("no job in the preferred queue matches the query")
    return places[0] if position == "before" else places[-1] + 1


def add_preferred(
    job_ids: list[str], position: str, query: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Move waiting jobs into the preferred queue, in the given order, at `position`
    (`before`/`after` the first/last preferred job matching `query`: a jobId, tag or
    pipelineName). Ids of jobs that are not waiting are ignored."""
    if position not in POSITIONS:
        raise InvalidData(
            f"data.position should be equal to one of the allowed values ({','.join(POSITIONS)})"
        )
    query = query or {}
    if position in ("before", "after") and not any(query.get(k) for k in ("jobId", "tag", "pipelineName")):
        raise InvalidData("data.query should have required property 'jobId', 'tag' or 'pipelineName'")
    with transaction.atomic():
        waiting = {job.job_id: job for job in _waiting().select_for_update().filter(job_id__in=job_ids)}
        moving = [waiting[job_id] for job_id in dict.fromkeys(job_ids) if job_id in waiting]
        moved = {job.job_id for job in moving}
        preferred = [job for job in _ordered("preferred") if job.job_id not in moved]
        at = _insert_at(preferred, position, query)
        _rank([*preferred[:at], *moving, *preferred[at:]])
    return [_item(job) for job in moving]


def remove_preferred(job_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Back to the managed queue."""
    with transaction.atomic():
        jobs = list(
            _waiting().select_for_update().filter(job_id__in=list(job_ids), preferred_rank__isnull=False)
        )
        Job.objects.filter(job_id__in=[job.job_id for job in jobs]).update(preferred_rank=None)
    return [_item(job) for job in jobs]


def _rank(jobs: list[Job]) -> None:
    for rank, job in enumerate(jobs, start=1):
        if job.preferred_rank != rank:
            job.preferred_rank = rank
            Job.objects.filter(job_id=job.job_id).update(preferred_rank=rank)
