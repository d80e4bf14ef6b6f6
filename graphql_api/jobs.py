"""`job(id)` and `jobsAggregated(...)`: HKube's stored job documents for the dashboard.

A document is the one `exec/search` returns (`pipelines.search.job_document`) plus what
HKube's GraphQL adds: `key` (the jobId), `results` (the stored result object) and the
`graph` (the `graph/parsed` shape, computed only when a query selects it).

`jobsAggregated` filters as HKube's dashboard query does: experiment (default `main`),
pipeline name, algorithm name, status (default: every status but `pending`), user (an
audit-trail entry's), tags (all of them), `datesRange` on the start time; newest first;
`cursor` is the last jobId of the previous page, `jobsCount` counts every matching job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from ariadne import ObjectType, QueryType
from django.db.models import QuerySet

from graphql_api.types import Info
from hkube_site.errors import InvalidData, NotFound
from pipelines import search, services
from pipelines.graph import graph_document
from pipelines.models import Job, JobStatus

DEFAULT_LIMIT = 100
MAX_LIMIT = 100_000  # the timeline chart asks for this many
# Filters on JSON lists (tags, node algorithms, audit users) run in Python: one request
# reads at most this many candidate rows.
SCAN_LIMIT = 100_000
ALL_EXPERIMENTS = "show-all"  # the dashboard's "every experiment" choice

query = QueryType()
job_type = ObjectType("Job")
input_type = ObjectType("Input")
metadata_type = ObjectType("Metadata")


def job_object(job: Job) -> dict[str, Any]:
    document = search.job_document(job)
    pipeline = dict(document["pipeline"] or {})
    if job.active_time:
        pipeline.setdefault("activeTime", job.active_time)
        pipeline.setdefault("queueTimeSeconds", round((job.active_time - job.start_time) / 1000, 3))
    return {**document, "pipeline": pipeline, "key": job.job_id, "results": job.result, "_job": job}


@query.field("job")
def resolve_job(_: None, info: Info, id: str) -> dict[str, Any]:
    job = Job.objects.filter(job_id=id).first()
    if job is None:
        raise NotFound("jobId", id)
    return job_object(job)


@job_type.field("graph")
def resolve_graph(document: dict[str, Any], info: Info) -> dict[str, Any]:
    return graph_document(document["_job"])


@input_type.field("path")
def resolve_input_path(item: Any, info: Info) -> Any:
    return item.get("path") if isinstance(item, dict) else None


@input_type.field("value")
def resolve_input_value(item: Any, info: Info) -> Any:
    # HKube's job resolver: an input item without a path is shown as its value.
    if isinstance(item, dict):
        return item.get("value", None if "path" in item else item)
    return item


@metadata_type.field("values")
def resolve_metadata_values(metadata: Any, info: Info) -> Any:
    return metadata


@query.field("jobsAggregated")
def resolve_jobs_aggregated(_: None, info: Info, **filters: Any) -> dict[str, Any]:
    limit = filters.get("limit")
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidData(f"limit should be between 1 and {MAX_LIMIT}")
    rows = _rows(filters)
    accept = _python_filter(filters)
    cursor = filters.get("cursor")
    jobs: list[Job] = []
    count = 0
    past_cursor = not cursor
    for job in _candidates(rows, accept):
        count += 1
        if not past_cursor:
            past_cursor = job.job_id == cursor
            continue
        if len(jobs) < limit:
            jobs.append(job)
    if not past_cursor:
        raise InvalidData("please provide a valid cursor")
    return {
        "jobs": [job_object(job) for job in jobs],
        "cursor": jobs[-1].job_id if jobs else None,
        "jobsCount": count,
    }


def _candidates(rows: QuerySet[Job], accept: Callable[[Job], bool] | None) -> Iterator[Job]:
    for job in rows[:SCAN_LIMIT].iterator(chunk_size=500):
        if accept is None or accept(job):
            yield job


def _rows(filters: dict[str, Any]) -> QuerySet[Job]:
    rows = Job.objects.all()
    experiment = filters.get("experimentName") or services.DEFAULT_EXPERIMENT
    if experiment != ALL_EXPERIMENTS:
        rows = rows.filter(experiment=experiment)
    if filters.get("pipelineName"):
        rows = rows.filter(pipeline_name=filters["pipelineName"])
    status = filters.get("pipelineStatus")
    rows = rows.filter(status=status) if status else rows.exclude(status=JobStatus.PENDING)
    dates = filters.get("datesRange") or {}
    if dates.get("from"):
        rows = rows.filter(start_time__gte=_epoch_ms(dates["from"], "from"))
    if dates.get("to"):
        rows = rows.filter(start_time__lte=_epoch_ms(dates["to"], "to"))
    return rows.order_by("-start_time", "-job_id")


def _python_filter(filters: dict[str, Any]) -> Callable[[Job], bool] | None:
    """The filters on JSON lists, None when there are none."""
    tests: list[Callable[[Job], bool]] = []
    algorithm = filters.get("algorithmName")
    if algorithm:
        tests.append(
            lambda job: any(
                node.get("algorithmName") == algorithm for node in (job.pipeline or {}).get("nodes") or []
            )
        )
    tags = {tag for tag in filters.get("tags") or [] if tag}
    if tags:
        tests.append(lambda job: tags <= set(job.tags or []))
    user = filters.get("user")
    if user:
        tests.append(lambda job: any(entry.get("user") == user for entry in job.audit_trail or []))
    if not tests:
        return None
    return lambda job: all(test(job) for test in tests)


def _epoch_ms(value: str, name: str) -> int:
    """An ISO date (naive: UTC), as the dashboard's date picker sends it."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidData(f"datesRange.{name} should be an ISO date, got {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
