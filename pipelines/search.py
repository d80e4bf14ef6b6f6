"""The exec reads beyond status and results: `exec/jobs`, `exec/auditTrail`,
`exec/flowInput` and `exec/search` (hkube-api §3.1.8-3.1.11). Reads only: every state
change of a job goes through `pipelines.services`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet

from hkube_site.errors import InvalidData, NotFound
from pipelines import schema, services
from pipelines.models import Job, JobStatus


def running_jobs(status: str | None, raw: bool) -> list[Any]:
    """`exec/jobs`: jobs in `status` (default: active and pending)."""
    statuses = [status] if status else [JobStatus.ACTIVE, JobStatus.PENDING]
    rows = Job.objects.filter(status__in=statuses).values_list("job_id", "status", "pipeline_name")
    if raw:
        return [job_id for job_id, _, _ in rows]
    return [{"jobId": job_id, "status": s, "pipelineName": name} for job_id, s, name in rows]


def audit_trail(job_id: str) -> dict[str, Any]:
    """`exec/auditTrail`: HKube spreads the array into an object and adds the jobId."""
    trail = Job.objects.filter(job_id=job_id).values_list("audit_trail", flat=True).first()
    if trail is None:
        raise NotFound("auditTrail", job_id)
    return {**{str(i): entry for i, entry in enumerate(trail)}, "jobId": job_id}


def flow_input(job_id: str) -> Any:
    """`exec/flowInput`: the stored flowInput, or None when the job or its flowInput is missing."""
    job = Job.objects.filter(job_id=job_id).first()
    return None if job is None else services.load_flow_input(job)


def job_document(job: Job) -> dict[str, Any]:
    """The stored job as `exec/search` returns it (hkube-api §6.5)."""
    status = {k: v for k, v in services.status_object(job).items() if k != "jobId"}
    return {
        "jobId": job.job_id,
        "externalId": job.external_id,
        "userPipeline": job.user_pipeline,
        "pipeline": job.pipeline,
        "status": status,
        "result": job.result,
        "completion": job.completion,
        "auditTrail": job.audit_trail,
    }


# --- search --------------------------------------------------------------------------------

# Filters with no portable SQL form (JSON containment is missing on SQLite) are applied in
# Python; one request reads at most this many candidate rows, and its cursor lets the next
# request go on from there.
SEARCH_SCAN_LIMIT = 5000


def search_query(params: dict[str, str]) -> dict[str, Any]:
    """`GET exec/search` query parameters as the `POST` body."""
    query: dict[str, Any] = {
        key: params[key]
        for key in ("experimentName", "pipelineName", "pipelineType", "algorithmName", "pipelineStatus")
        if params.get(key)
    }
    dates = {key: params[key] for key in ("from", "to") if params.get(key)}
    if dates:
        query["datesRange"] = dates
    if params.get("tags"):
        query["tags"] = [t for t in params["tags"].split(",") if t]
    body: dict[str, Any] = {"query": query}
    for key in ("cursor", "sort", "limit"):
        if params.get(key):
            body[key] = params[key]
    if params.get("page"):
        body["pageNum"] = params["page"]
    for key in ("fields", "exists"):
        if params.get(key):
            body[key] = _flags(params[key])
    return body


def _flags(text: str) -> dict[str, bool]:
    """`"jobId:true,status:false"` → `{"jobId": True, "status": False}`."""
    flags = {}
    for part in text.split(","):
        name, _, value = part.partition(":")
        if name.strip():
            flags[name.strip()] = value.strip().lower() not in ("false", "0")
    return flags


def search_jobs(body: dict[str, Any]) -> dict[str, Any]:
    """`exec/search`: full job documents by start time, at most `limit`, with a cursor.

    The cursor is the jobId of the last row read (the last hit when the page is full); the
    next page starts after it in the same order. An unknown one is a 400.
    """
    started = time.perf_counter()
    body = schema.validate_search_jobs(body)
    query = body.get("query") or {}
    descending = body.get("sort", "desc") == "desc"
    rows = _search_rows(query)
    cursor = body.get("cursor")
    if cursor:
        after = Job.objects.filter(job_id=cursor).values_list("start_time", flat=True).first()
        if after is None:
            raise InvalidData("please provide a valid cursor")
        if descending:
            rows = rows.filter(Q(start_time__lt=after) | Q(start_time=after, job_id__lt=cursor))
        else:
            rows = rows.filter(Q(start_time__gt=after) | Q(start_time=after, job_id__gt=cursor))
    rows = rows.order_by(*(("-start_time", "-job_id") if descending else ("start_time", "job_id")))
    limit = int(body.get("limit", 100))
    wanted = limit or SEARCH_SCAN_LIMIT  # Mongo reads limit 0 as "no limit"
    skip = 0 if cursor else max(int(body.get("pageNum") or 1) - 1, 0) * limit

    accept = _python_filter(query)
    exists: dict[str, Any] = body.get("exists") or {}
    if accept is None and not exists:
        candidates, to_skip = rows[skip : skip + wanted], 0
    else:
        candidates, to_skip = rows[:SEARCH_SCAN_LIMIT], skip
    hits: list[dict[str, Any]] = []
    last: str | None = None
    for job in candidates.iterator(chunk_size=200):
        last = job.job_id
        if accept is not None and not accept(job):
            continue
        document = job_document(job)
        if any(_has(document, path) != bool(flag) for path, flag in exists.items()):
            continue
        if to_skip:
            to_skip -= 1
            continue
        hits.append(_project(document, body.get("fields") or {}))
        if len(hits) >= wanted:
            break
    answer: dict[str, Any] = {"hits": hits}
    if last is not None:
        answer["cursor"] = last
    answer["timeTook"] = f"{(time.perf_counter() - started) * 1000:.2f}ms"
    return answer


def _search_rows(query: dict[str, Any]) -> QuerySet[Job]:
    """The filters SQL can apply on every database."""
    rows = Job.objects.all()
    if query.get("experimentName"):
        rows = rows.filter(experiment=query["experimentName"])
    if query.get("pipelineName"):
        name = query["pipelineName"]
        rows = rows.filter(Q(job_id=name) | Q(external_id=name) | Q(pipeline_name=name))
    if query.get("pipelineStatus"):
        rows = rows.filter(status=query["pipelineStatus"])
    dates = query.get("datesRange") or {}
    if dates.get("from"):
        rows = rows.filter(start_time__gte=_epoch_ms(dates["from"]))
    if dates.get("to"):
        rows = rows.filter(start_time__lte=_epoch_ms(dates["to"]))
    return rows


def _python_filter(query: dict[str, Any]) -> Callable[[Job], bool] | None:
    """The filters on JSON lists (types, node algorithms, tags), None when there are none."""
    tests: list[Callable[[Job], bool]] = []
    kind = query.get("pipelineType")
    if kind:
        tests.append(lambda job: kind in (job.types or []))
    algorithm = query.get("algorithmName")
    if algorithm:
        tests.append(
            lambda job: any(
                n.get("algorithmName") == algorithm for n in (job.pipeline or {}).get("nodes") or []
            )
        )
    tags = set(query.get("tags") or [])
    if tags:
        tests.append(lambda job: tags <= set(job.tags or []))
    if not tests:
        return None
    return lambda job: all(test(job) for test in tests)


def _epoch_ms(value: Any) -> int:
    """An ISO date (naive = UTC) or epoch milliseconds."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidData(f"invalid date {value!r} in datesRange") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _lookup(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _has(document: dict[str, Any], path: str) -> bool:
    return _lookup(document, path) is not None


def _project(document: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Mongo's projection: `{a: true, "b.c": true}` keeps those paths, `{a: false}` drops them."""
    if not fields:
        return document
    included = [path for path, flag in fields.items() if flag]
    if not included:
        return {k: v for k, v in document.items() if k not in fields}
    out: dict[str, Any] = {}
    for path in included:
        value = _lookup(document, path)
        if value is None:
            continue
        target = out
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out
