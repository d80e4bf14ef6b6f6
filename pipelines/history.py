"""History across jobs (hkube-api §3.7, §3.6): `pipelines/results|status` and
`cron/results|status`, HKube's `queryList` (`?name=&experimentName=main&sort=desc&limit=1`).

`name` is optional: without it every pipeline of the experiment is listed, and the 404 reads
`pipeline results undefined Not Found`, as HKube's template string does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hkube_site.errors import NotFound
from pipelines import schema, services
from pipelines.models import Job

QUERY_KEYS = ("name", "experimentName", "sort", "limit")


def query_list(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate list parameters (strings are coerced: `limit=5` from a query string is 5)
    and fill HKube's defaults."""
    return schema.validate_query_list({k: params[k] for k in QUERY_KEYS if k in params})


def _jobs(query: dict[str, Any], *, order_by: str, with_result: bool, cron_only: bool) -> list[Job]:
    jobs = Job.objects.filter(experiment=query["experimentName"])
    if query.get("name"):
        jobs = jobs.filter(pipeline_name=query["name"])
    if with_result:
        jobs = jobs.filter(result__isnull=False)
    sign = "" if query["sort"] == "asc" else "-"
    jobs = jobs.order_by(f"{sign}{order_by}", f"{sign}job_id")
    limit = int(query["limit"])
    if not cron_only:
        return list(jobs[:limit])
    # `types` is a JSON list; containment lookups are not available on SQLite.
    return _first((job for job in jobs.iterator(chunk_size=500) if "cron" in (job.types or [])), limit)


def _first(jobs: Iterable[Job], limit: int) -> list[Job]:
    picked: list[Job] = []
    for job in jobs:
        picked.append(job)
        if len(picked) >= limit:
            break
    return picked


def _label(query: dict[str, Any]) -> str:
    return str(query.get("name") or "undefined")


def results(params: Mapping[str, Any], *, cron_only: bool = False) -> list[dict[str, Any]]:
    """Result objects (§6.3) of the jobs that have one, by result time (newest first by default)."""
    query = query_list(params)
    # end_time is the result's timestamp: both are written by the same update.
    jobs = _jobs(query, order_by="end_time", with_result=True, cron_only=cron_only)
    if not jobs:
        raise NotFound("cron results" if cron_only else "pipeline results", _label(query))
    return [services.result_object(job) for job in jobs]


def statuses(params: Mapping[str, Any], *, cron_only: bool = False) -> list[dict[str, Any]]:
    """Status objects (§6.2, with jobId) by status time (newest first by default)."""
    query = query_list(params)
    jobs = _jobs(query, order_by="status_timestamp", with_result=False, cron_only=cron_only)
    if not jobs:
        raise NotFound("cron status" if cron_only else "pipeline status", _label(query))
    return [services.status_object(job) for job in jobs]
