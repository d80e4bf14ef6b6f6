"""A job's runtime graph (`graph/raw`, `graph/parsed`), built from its JobNode and Task rows.

HKube's pipeline-driver keeps this document in Redis and rewrites it every few seconds;
here it is computed on request, so it is never staler than the rows. The shape follows
HKube's graph-store: one entry per node (a plain node carries its task's `taskId`, a batch
node a `batch` of items and a `batchInfo`), and the edges with their relation types.
Two fields are ours: every node also has `states` (items per status, the per-node share
of `status.data.states`), which HKube's document lacks and the job page reads; and a task
that reported progress (`api.progress(percent, message)`) has, while the job runs,
`progress` and, with a message, `progressMessage`: its latest report (a plain node carries
its task's, a batch item its own; see `algorithms/runtime/events.py`).

Task rows are written in bulk when a chunk of items ends, so items of a running node may
have no row yet. Those are counted as `unrecorded_states` says, the same split
`status.data` makes: `active` up to the node's in-flight count in Redis, `creating` after.
Which of them are the active ones is not recorded anywhere; the lowest batch indices are
shown as active.

A 10,000-item batch is listed whole by `graph/raw` (a few MB, built from tuples, not model
instances). `graph/parsed` narrows to one node and slices; sorted by batchIndex (the
default) it reads only the rows of the slice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from django.db.models import Count, Q

from hkube_site import redis_client as rc
from hkube_site.errors import InvalidData, NotFound
from pipelines import ports
from pipelines.engine import dag, ids
from pipelines.models import (
    ENDED_TASK_STATUSES,
    FINAL_JOB_STATUSES,
    Job,
    JobNode,
    JobStatus,
    NodeStatus,
    Task,
    now_ms,
)

# Item field -> Task column; the keys are what `sort` accepts.
SORT_FIELDS = {
    "batchIndex": "batch_index",
    "taskId": "task_id",
    "status": "status",
    "error": "error",
    "startTime": "start_time",
    "endTime": "end_time",
    "attempt": "attempt",
}
ITEM_COLUMNS = ("batch_index", "task_id", "status", "error", "start_time", "end_time", "attempt", "worker")
Row = tuple[int, str, str, "str | None", "int | None", "int | None", int, str]

IDLE_STATES = ("creating", "pending", "failedScheduling")
COMPLETED_STATES = ("succeed", "failed")


def unrecorded_states(
    node_status: str, remaining: int, in_flight: int, unscheduled: bool = False
) -> dict[str, int]:
    """How a node's items without a Task row are counted (`status.data` and the graph).

    `remaining` items have no row; `in_flight` is the node's count in Redis of items whose
    chunk is running. A stopped node's missing items were stopped; only an active node's
    can be running; the rest wait: `creating`, or `failedScheduling` when the node's
    algorithm cannot get a worker (`unscheduled`, see `scheduling_warnings`).
    """
    if remaining <= 0:
        return {}
    if node_status == NodeStatus.STOPPED:
        return {"stopped": remaining}
    running = min(remaining, in_flight) if node_status == NodeStatus.ACTIVE else 0
    waiting = "failedScheduling" if unscheduled and node_status == NodeStatus.ACTIVE else "creating"
    return {name: n for name, n in (("active", running), (waiting, remaining - running)) if n}


def scheduling_warnings(job: Job, running: bool) -> dict[str, str]:
    """Algorithm -> why it cannot get a worker (HKube's `failedScheduling` warning), for a
    running job's waiting nodes: the executor's warnings (`algorithms/resources.py`, asked
    through `ports`) once they are old enough to show."""
    if not running or job.status != JobStatus.ACTIVE:
        return {}
    return ports.get().scheduling_warnings(now_ms())


@dataclass(frozen=True)
class Window:
    """`graph/parsed`'s `sort`, `order`, `from` and `to` over a batch's items."""

    sort: str = "batchIndex"
    order: Literal["asc", "desc"] = "asc"
    start: int | None = None
    stop: int | None = None

    @classmethod
    def from_query(cls, query: Any) -> Window:
        sort = query.get("sort") or "batchIndex"
        if sort not in SORT_FIELDS:
            raise InvalidData(f"sort should be one of {', '.join(SORT_FIELDS)}, got {sort!r}")
        order = query.get("order") or "asc"
        if order not in ("asc", "desc"):
            raise InvalidData("order should be equal to one of the allowed values (asc, desc)")
        return cls(
            sort=sort,
            order="desc" if order == "desc" else "asc",
            start=_int_param(query, "from"),
            stop=_int_param(query, "to"),
        )


def _int_param(query: Any, name: str) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidData(f"{name} should be integer") from exc


def graph_document(job: Job, *, node: str | None = None, window: Window | None = None) -> dict[str, Any]:
    """The graph document; `node` narrows it to one node and its edges, `window` sorts and
    slices batch items (HKube's `graph/parsed`). Raises `NotFound` for an unknown node."""
    graph = dag.build_graph(job.pipeline)
    if node is not None and node not in graph.nodes:
        raise NotFound("node", node)
    names = [name for name in graph.nodes if node is None or name == node]
    rows = {
        n.node_name: n
        for n in JobNode.objects.filter(job=job, node_name__in=names).defer("spec", "output", "celery_ids")
    }
    levels = graph.levels() if len(rows) < len(names) else {}
    recorded, errors = _recorded_counts(job, names)
    running = any(r.status == NodeStatus.ACTIVE for r in rows.values())
    in_flight = rc.active_counts(job.job_id) if running and job.status == JobStatus.ACTIVE else {}
    warnings = scheduling_warnings(job, running)
    single_tasks = _single_tasks(job, [n for n in names if n in rows and not rows[n].is_batch])
    # Progress reports live in Redis while the job runs (`algorithms/runtime/events.py`).
    reports = rc.read_progress(job.job_id) if running and job.status == JobStatus.ACTIVE else {}
    nodes = []
    for name in names:
        row = rows.get(name)
        descriptor = graph.nodes[name]
        status = row.status if row else _unstarted_status(job)
        total = row.total if row and row.is_batch else 1
        states = Counter(recorded.get(name, {}))
        if status == NodeStatus.SKIPPED and not states:
            states["skipped"] = max(1, total)  # a skipped node counts once, as in status.data
        warning = warnings.get(row.algorithm_name) if row else None
        unrecorded = unrecorded_states(
            status, total - sum(states.values()), in_flight.get(name, 0), unscheduled=bool(warning)
        )
        states.update(unrecorded)
        entry: dict[str, Any] = {
            "nodeName": name,
            "algorithmName": row.algorithm_name if row else descriptor.get("algorithmName", ""),
            "algorithmVersion": row.algorithm_version if row else "",
            "input": descriptor.get("input") or [],
            "status": status,
            "startTime": row.start_time if row else None,
            "level": row.level if row else levels.get(name, 0),
            "states": {k: v for k, v in states.items() if v},
        }
        if row and row.end_time is not None:
            entry["endTime"] = row.end_time
        if row and row.error:
            entry["error"] = row.error
        if warning and unrecorded.get("failedScheduling"):
            entry["status"] = "failedScheduling"  # HKube: the node waits for resources
            entry["warnings"] = [warning]
        if row and row.is_batch and status == NodeStatus.SKIPPED and not row.total:
            entry["batch"] = [_skipped_item(job, row)]  # its input was empty or null: one skipped item
            entry["batchInfo"] = _batch_info(states, 0, 0)
        elif row and row.is_batch:
            entry["batch"] = _items(job, row, unrecorded, window, reports)
            entry["batchInfo"] = _batch_info(states, errors.get(name, 0), row.total)
        else:
            _add_single_task(entry, job, name, single_tasks.get(name))
            _add_progress(entry, reports.get(rc.progress_field(name, 0)))
        nodes.append(entry)
    metrics = rc.stream_metrics(job.job_id) if job.pipeline.get("kind") == "stream" else {}
    edges = [
        _edge(source, target, list(types), metrics.get(f"{source}>{target}"))
        for (source, target), types in graph.edges.items()
        if node is None or node in (source, target)
    ]
    final = job.status in FINAL_JOB_STATUSES
    timestamp = (job.end_time or job.status_timestamp) if final else now_ms()
    return {"jobId": job.job_id, "timestamp": timestamp, "nodes": nodes, "edges": edges}


def _edge(source: str, target: str, types: list[str], metrics: dict[str, float] | None) -> dict[str, Any]:
    """One edge; a stream job's carries `value.metrics` (HKube's dashboard reads it): the
    autoscaler's last figures (queueSize, throughput, processingTimeMs, queueTimeMs, roundTripMs,
    sent, received, dropped)."""
    value: dict[str, Any] = {"types": types}
    if metrics is not None:
        value["metrics"] = metrics
    return {"from": source, "to": target, "value": value}


def _skipped_item(job: Job, node: JobNode) -> dict[str, Any]:
    """The one item HKube shows for a batch node skipped because its input had no items."""
    return {
        "taskId": ids.task_id(job.job_id, node.node_name, 1),
        "batchIndex": 1,
        "status": NodeStatus.SKIPPED.value,
        "startTime": node.start_time,
        "endTime": node.end_time if node.end_time is not None else node.start_time,
        "attempt": 1,
    }


def _unstarted_status(job: Job) -> str:
    # No JobNode row: the job has not started yet, or ended (stopped, failed) before it did.
    return NodeStatus.STOPPED if job.status in FINAL_JOB_STATUSES else NodeStatus.CREATING


def _recorded_counts(job: Job, names: list[str]) -> tuple[dict[str, Counter[str]], dict[str, int]]:
    """Per node: Task rows per status, and how many rows carry an error."""
    rows = (
        Task.objects.filter(job=job, node_name__in=names)
        .values_list("node_name", "status")
        .annotate(n=Count("id"), errors=Count("id", filter=Q(error__gt="")))
        .values_list("node_name", "status", "n", "errors")
    )
    counts: dict[str, Counter[str]] = {}
    errors: Counter[str] = Counter()
    for name, status, n, with_error in rows:
        counts.setdefault(name, Counter())[status] += n
        errors[name] += with_error
    return counts, dict(errors)


def _batch_info(states: Counter[str], errors: int, total: int) -> dict[str, int]:
    """HKube's batchInfo: idle (creating, pending), completed (succeed, failed), errors
    (items with an error), running (everything else, stopped items included, as HKube counts)."""
    idle = sum(states.get(s, 0) for s in IDLE_STATES)
    completed = sum(states.get(s, 0) for s in COMPLETED_STATES)
    return {
        "idle": idle,
        "completed": completed,
        "errors": errors,
        "running": max(0, total - idle - completed),
        "total": total,
    }


def _single_tasks(job: Job, names: list[str]) -> dict[str, Row]:
    if not names:
        return {}
    rows = Task.objects.filter(job=job, node_name__in=names, batch_index=0).values_list(
        "node_name", *ITEM_COLUMNS
    )
    return {row[0]: row[1:] for row in rows}


def _add_single_task(entry: dict[str, Any], job: Job, name: str, task: Row | None) -> None:
    if task is None:
        entry["taskId"] = ids.task_id(job.job_id, name, 0)
        return
    _, task_id, _, error, _, _, _, worker = task
    entry["taskId"] = task_id
    if error and "error" not in entry:
        entry["error"] = error
    if worker:
        entry["podName"] = worker


def _add_progress(entry: dict[str, Any], report: dict[str, Any] | None) -> None:
    """A running task's latest progress report, when it sent one (a task that ended keeps
    its report in Redis for a while; it is not shown)."""
    if report is None or entry.get("status") in ENDED_TASK_STATUSES:
        return
    entry["progress"] = report.get("progress")
    if report.get("message"):
        entry["progressMessage"] = report["message"]


def _items(
    job: Job,
    node: JobNode,
    missing: dict[str, int],
    window: Window | None,
    reports: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """A batch node's items, batchIndex 1..total, sorted and sliced by `window`; `missing`
    counts the items without a row (`unrecorded_states`); `reports` are the tasks' progress
    reports (`rc.read_progress`)."""
    items = _window_items(job, node, missing, window or Window())
    if reports:
        for item in items:
            _add_progress(item, reports.get(rc.progress_field(node.node_name, item["batchIndex"])))
    return items


def _window_items(job: Job, node: JobNode, missing: dict[str, int], window: Window) -> list[dict[str, Any]]:
    first, total = 1, node.total
    tasks = Task.objects.filter(job=job, node_name=node.node_name)
    # The lowest unrecorded indices are shown as the in-flight ones.
    active: set[int] = set()
    if missing.get("active"):
        recorded = set(tasks.values_list("batch_index", flat=True))
        for index in range(first, first + total):
            if index not in recorded:
                active.add(index)
                if len(active) == missing["active"]:
                    break
    waiting = next((s for s in ("stopped", "failedScheduling") if s in missing), "creating")

    def placeholder(index: int) -> dict[str, Any]:
        return {
            "taskId": ids.task_id(job.job_id, node.node_name, index),
            "batchIndex": index,
            "status": "active" if index in active else waiting,
            "startTime": None,
            "endTime": None,
            "attempt": 1,
        }

    if window.sort == "batchIndex":
        # Only the rows of the slice are read.
        indices = range(first, first + total)
        if window.order == "desc":
            indices = indices[::-1]
        indices = indices[window.start : window.stop]
        if not indices:
            return []
        low, high = min(indices[0], indices[-1]), max(indices[0], indices[-1])
        rows = {r[0]: r for r in tasks.filter(batch_index__range=(low, high)).values_list(*ITEM_COLUMNS)}
        return [_item(rows[i]) if i in rows else placeholder(i) for i in indices]
    rows = {r[0]: r for r in tasks.values_list(*ITEM_COLUMNS)}
    items = [_item(rows[i]) if i in rows else placeholder(i) for i in range(first, first + total)]
    key = window.sort

    # None sorts after every value ascending (before, descending), as lodash's orderBy does.
    def sort_key(item: dict[str, Any]) -> tuple[bool, Any]:
        value = item.get(key)
        return (value is None, 0 if value is None else value)

    items.sort(key=sort_key, reverse=window.order == "desc")
    return items[window.start : window.stop]


def _item(row: Row) -> dict[str, Any]:
    batch_index, task_id, status, error, start, end, attempt, worker = row
    item: dict[str, Any] = {
        "taskId": task_id,
        "batchIndex": batch_index,
        "status": status,
        "startTime": start,
        "endTime": end,
        "attempt": attempt,
    }
    if error:
        item["error"] = error
    if worker:
        item["podName"] = worker
    return item
