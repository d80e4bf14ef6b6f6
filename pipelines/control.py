"""Controlling jobs after submission, and the exec reads beyond status and results.

Pause, resume, rerun, run-from-node (`exec/caching`), single-algorithm runs, and the reads
`exec/jobs`, `exec/auditTrail`, `exec/flowInput` and `exec/search` (hkube-api §3.1.3-3.1.11).
Every state change is a compare-and-swap under the job's row lock, like the driver's own
changes in `pipelines.services`; new jobs go through `services.submit_job`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from hkube_site.errors import InvalidData, NotFound
from pipelines import events, schema, services
from pipelines.engine import dag
from pipelines.engine.references import Reference, iter_leaves, parse_reference
from pipelines.models import Job, JobNode, JobStatus, NodeStatus, Task, now_ms

log = logging.getLogger(__name__)

PAUSABLE = (JobStatus.PENDING, JobStatus.ACTIVE, JobStatus.RESUMED, JobStatus.PAUSED)
# An executed pipeline's fields that belong to one run, not to the descriptor run again.
RUN_FIELDS = ("jobId", "startTime", "lastRunResult", "types", "maxExceeded", "activeTime", "queueTimeSeconds")


def _merge_types(*groups: Iterable[str]) -> list[str]:
    """HKube's `_mergeTypes`: concatenated, first occurrence kept."""
    return list(dict.fromkeys(t for group in groups for t in group))


def _refused(action: str, job: Job) -> InvalidData:
    return InvalidData(f"unable to {action} pipeline {job.pipeline_name} because its in {job.status} status")


def _audit(action: str, stamp: int) -> dict[str, Any]:
    return {"timestamp": stamp, "user": services.audit_user(), "action": action}


# --- new runs ------------------------------------------------------------------------------


def run_algorithm(body: dict[str, Any]) -> Job:
    """`exec/algorithm`: a one-node pipeline named after the algorithm."""
    body = schema.validate_exec_algorithm(body)
    name = body["name"]
    node = {
        "nodeName": name,
        "algorithmName": name,
        "input": body.get("input") or [],
        "kind": "debug" if body.get("debug") else "algorithm",
    }
    return services.submit_job({"name": name, "nodes": [node]}, types=["algorithm"])


def rerun_job(body: dict[str, Any]) -> Job:
    """`exec/rerun`: the job's user pipeline again, its stored flowInput reused (no upload:
    the user pipeline carries `flowInputMetadata`, which `submit_job` takes as it is)."""
    job_id = schema.validate_rerun(body)["jobId"]
    old = Job.objects.filter(job_id=job_id).first()
    if old is None:
        raise NotFound("jobId", job_id)
    types = _merge_types(old.types or [], ["rerun"])
    return services.submit_job(
        copy.deepcopy(old.user_pipeline), types=types, validate_nodes=False, internal=True
    )


def run_from_node(body: dict[str, Any]) -> Job:
    """`exec/caching`: run `nodeName` and all its descendants again, the other parents cached.

    The new pipeline holds only the cut (the node and its descendants, as the old job
    executed them). Every node the cut references but does not contain is put in the
    pipeline's `cachedOutputs` with the output the old job recorded for it, so the engine
    plans the cut's nodes from the old job's storage paths (nothing is copied). Unlike HKube,
    which presets the old outputs on every node of the cut, a re-run node's children read its
    new output. A parent the old job never finished has no output and reads as null, as in
    HKube.
    """
    body = schema.validate_caching(body)
    job_id, node_name = body["jobId"], body["nodeName"]
    old = Job.objects.filter(job_id=job_id).first()
    if old is None:
        raise InvalidData(f"unable to find pipeline {job_id}")
    executed: dict[str, Any] = copy.deepcopy(old.pipeline)
    if executed.get("kind") == "stream":
        raise InvalidData("run node is not allowed in stream pipeline")
    nodes: list[dict[str, Any]] = executed.get("nodes") or []
    for node in nodes:
        if any(ref.sign == "*@" for ref in _references(node)):
            raise InvalidData(f"relation waitAny for node {node.get('nodeName')} is not allowed")
    try:
        graph = dag.build_graph(executed)
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc
    if node_name not in graph.nodes:
        raise InvalidData(f"cant find relations for {node_name}")

    cut = _descendants(graph, node_name)
    root_job_id = old.root_job_id or old.job_id
    kept = []
    for node in nodes:
        if node.get("nodeName") in cut:
            if node.get("nodeName") == node_name:
                node["cacheJobId"] = root_job_id
            kept.append(node)
    outside = [
        ref.obj for node in kept for ref in _references(node) if ref.kind == "node" and ref.obj not in cut
    ]
    descriptor = {k: v for k, v in executed.items() if k not in RUN_FIELDS}
    descriptor.update(
        name=f"{executed.get('name')}-{node_name}",
        nodes=kept,
        cachedOutputs=_old_outputs(old, list(dict.fromkeys(outside))),
    )
    if body.get("debug"):
        options = descriptor.setdefault("options", {})
        options["debugOverride"] = list(dict.fromkeys([*(options.get("debugOverride") or []), node_name]))
    types = _merge_types(old.types or [], ["node"])
    return services.submit_job(
        descriptor, types=types, validate_nodes=False, root_job_id=root_job_id, internal=True
    )


def _references(node: dict[str, Any]) -> list[Reference]:
    found = []
    for _, leaf in iter_leaves(node.get("input") or []):
        reference = parse_reference(leaf)
        if reference is not None:
            found.append(reference)
    return found


def _descendants(graph: dag.Graph, start: str) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for child in graph.children(stack.pop()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _old_outputs(old: Job, names: list[str]) -> dict[str, Any]:
    """What `names` gave the old job: its node rows, else what it had cached itself (a cut
    of a cut), else a marker the planner reads as "no output" (null, or zero items)."""
    rows = dict(JobNode.objects.filter(job=old, node_name__in=names).values_list("node_name", "output"))
    inherited = old.pipeline.get("cachedOutputs") or {}
    return {name: rows.get(name) or inherited.get(name) or {"kind": "missing"} for name in names}


# --- pause and resume ----------------------------------------------------------------------


def pause_job(job_id: str) -> None:
    """`exec/pause`: the driver stops dispatching; tasks already queued or running go on and
    record their results (the driver acts only on active jobs, so their `node_finished`
    messages are dropped while paused, and `resume_job` makes up for them)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None:
            raise NotFound("jobId", job_id)
        if job.result is not None:
            raise InvalidData(
                f"unable to pause pipeline {job.pipeline_name} because its in {job.status} status"
            )
        stamp = now_ms()
        changed = Job.objects.filter(job_id=job_id, status__in=PAUSABLE).update(
            status=JobStatus.PAUSED,
            level="info",
            status_timestamp=stamp,
            audit_trail=[_audit("pause", stamp), *job.audit_trail],
        )
        if not changed:
            raise InvalidData(
                f"unable to pause pipeline {job.pipeline_name} because its in {job.status} status"
            )
        events.status_changed(job, JobStatus.PAUSED)


def resume_job(job_id: str) -> None:
    """`exec/resume`: `paused` → `resumed` → `active`, then continue where the job stopped.

    While the job was paused the driver ignored every `node_finished` (and
    `node_failed_unexpectedly`) message, because both act only on an active job, so nodes
    whose tasks all ended during the pause are still `active` with nobody left to finish
    them. Resuming therefore:

    1. under the job's row lock, swaps `paused` → `resumed` → `active` and dispatches any
       node whose parents are all final (none is expected: a node becomes ready only in the
       same transaction that finishes its last parent; this is a safety net);
    2. after commit, looks at every node still `active` and finishes the ones whose tasks
       all ended (`_settle_node`).

    Races: the status is `active` before step 2 reads anything, so a callback either came
    before the swap (it was dropped, and the task rows it reported were committed before the
    callback was even sent, so step 2 sees them) or comes after it (it is handled normally).
    Both paths may then finish the same node; `node_finished` takes the job lock and acts
    only on an `active` node, so the second call does nothing. Nothing that ended is run
    again: only `creating` nodes are ever dispatched.

    A job paused before the driver started it (still without nodes) goes back to `pending`
    and is queued again, unless it is held for a concurrency slot (`maxExceeded`), which
    `scheduling.release_held_jobs` gives it as before; a start message still in the queue
    is then harmless (`start_job` swaps from `pending` only once).
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None:
            raise NotFound("jobId", job_id)
        if job.status != JobStatus.PAUSED:
            raise InvalidData(
                f"unable to resume pipeline {job.pipeline_name} because its in {job.status} status"
            )
        stamp = now_ms()
        Job.objects.filter(job_id=job_id, status=JobStatus.PAUSED).update(
            status=JobStatus.RESUMED,
            level="info",
            status_timestamp=stamp,
            audit_trail=[_audit("resume", stamp), *job.audit_trail],
        )
        events.status_changed(job, JobStatus.RESUMED)
        if job.active_time is None:
            Job.objects.filter(job_id=job_id, status=JobStatus.RESUMED).update(status=JobStatus.PENDING)
            if not job.max_exceeded:  # a held job waits for its concurrency slot as before
                priority = job.priority
                transaction.on_commit(lambda: services.enqueue_start(job_id, priority))
            return
        Job.objects.filter(job_id=job_id, status=JobStatus.RESUMED).update(status=JobStatus.ACTIVE)
        events.status_changed(job, JobStatus.ACTIVE)
        job.refresh_from_db()
        services._dispatch_ready(job, dag.build_graph(job.pipeline))
    for node in JobNode.objects.filter(job_id=job_id, status=NodeStatus.ACTIVE):
        _settle_node(node)


def _settle_node(node: JobNode) -> None:
    """Finish an active node whose tasks all ended; leave one that is still running."""
    recorded = Task.objects.filter(job_id=node.job_id, node_name=node.node_name).count()
    if recorded >= node.total:
        services.node_finished(node.job_id, node.node_name)
        return
    # Some items have no row: either still running (their callback will come) or their
    # messages failed outside the algorithm, which is what the chord's error callback,
    # dropped while paused, would have reported.
    states = _message_states(node.celery_ids or [])
    if not states or "PENDING" in states or "STARTED" in states or "RETRY" in states:
        return
    if "FAILURE" in states:
        services.node_failed_unexpectedly(node.job_id, node.node_name, "a task message failed while paused")
    else:
        services.node_finished(node.job_id, node.node_name)


def _message_states(celery_ids: list[str]) -> set[str]:
    from celery.result import AsyncResult

    from hkube_site.celery import app

    try:
        return {AsyncResult(task_id, app=app).state for task_id in celery_ids}
    except Exception as exc:  # noqa: BLE001 - the resume is committed; the node's own callback may still come
        log.warning("resume: could not read task states %s: %s", celery_ids, exc)
        return set()


# --- reads ---------------------------------------------------------------------------------


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


def _algorithms(job: Job) -> set[str]:
    return {str(n.get("algorithmName")) for n in (job.pipeline or {}).get("nodes") or []}


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
