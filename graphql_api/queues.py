"""The queue page: `queueCount`, `managedList`, `preferedList` and their aggregates.

HKube's queue has two parts: the jobs it orders itself (managed) and the jobs a user moved
to the front (preferred). Here the managed queue is every pending job (waiting for its start
or for a concurrency slot), in start order: priority first (1 is the highest), then age.
This server keeps no preferred list, so that part is always empty.

Paging is HKube's: a page of `pageSize` from the start; after `lastJobId` (next page);
before `firstJobId` (previous page); or the last page with `lastJobs`. `prevCount` and
`nextCount` count the jobs before and after the page; an id no longer queued gives the first
page (its job started while the page was shown).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ariadne import QueryType

from graphql_api.types import Info
from hkube_site.errors import InvalidData
from pipelines.models import Job, JobStatus

query = QueryType()


def _managed() -> list[Job]:
    return list(
        Job.objects.filter(status=JobStatus.PENDING)
        .only("job_id", "experiment", "pipeline_name", "priority", "max_exceeded", "start_time", "tags")
        .order_by("priority", "start_time", "job_id")
    )


def _entry(job: Job) -> dict[str, Any]:
    return {
        "jobId": job.job_id,
        "experimentName": job.experiment,
        "pipelineName": job.pipeline_name,
        "priority": job.priority,
        "maxExceeded": job.max_exceeded,
        "entranceTime": job.start_time,
        "tags": job.tags or [],
    }


def page(jobs: list[Job], args: dict[str, Any]) -> dict[str, Any]:
    size = args["pageSize"]
    if size < 1:
        raise InvalidData("pageSize should be >= 1")
    if args.get("pipelineName"):
        jobs = [j for j in jobs if j.pipeline_name == args["pipelineName"]]
    if args.get("tag"):
        jobs = [j for j in jobs if args["tag"] in (j.tags or [])]
    ids = [j.job_id for j in jobs]
    last_id, first_id = args.get("lastJobId"), args.get("firstJobId")
    start, end = 0, size
    if args.get("lastJobs"):
        start, end = max(0, len(jobs) - size), len(jobs)
    elif last_id in ids:
        start = ids.index(last_id) + 1
        end = start + size
    elif first_id in ids:
        end = ids.index(first_id)
        start = max(0, end - size)
    # An id no longer queued (its job started meanwhile) gives the first page.
    end = min(end, len(jobs))
    return {
        "returnList": [_entry(j) for j in jobs[start:end]],
        "prevCount": start,
        "nextCount": len(jobs) - end,
    }


def _by_pipeline(jobs: list[Job]) -> list[dict[str, Any]]:
    counts = Counter(j.pipeline_name for j in jobs)
    last = {j.pipeline_name: j.job_id for j in jobs}
    return [{"name": name, "count": n, "lastJob": last[name]} for name, n in counts.items()]


def _by_tags(jobs: list[Job]) -> list[dict[str, Any]]:
    counts: Counter[str] = Counter()
    last: dict[str, str] = {}
    for job in jobs:
        for tag in job.tags or []:
            counts[tag] += 1
            last[tag] = job.job_id
    return [{"name": tag, "count": n, "lastJob": last[tag]} for tag, n in counts.items()]


@query.field("queueCount")
def resolve_queue_count(_: None, info: Info) -> dict[str, int]:
    return {"managed": Job.objects.filter(status=JobStatus.PENDING).count(), "preferred": 0}


@query.field("managedList")
def resolve_managed_list(_: None, info: Info, **args: Any) -> dict[str, Any]:
    return page(_managed(), args)


@query.field("preferedList")
def resolve_prefered_list(_: None, info: Info, **args: Any) -> dict[str, Any]:
    return page([], args)


@query.field("aggregatedPipelineManaged")
def resolve_managed_by_pipeline(_: None, info: Info) -> list[dict[str, Any]]:
    return _by_pipeline(_managed())


@query.field("aggregatedTagsManaged")
def resolve_managed_by_tags(_: None, info: Info) -> list[dict[str, Any]]:
    return _by_tags(_managed())


@query.field("aggregatedPipelinePrefered")
def resolve_prefered_by_pipeline(_: None, info: Info) -> list[dict[str, Any]]:
    return []


@query.field("aggregatedTagsPrefered")
def resolve_prefered_by_tags(_: None, info: Info) -> list[dict[str, Any]]:
    return []
