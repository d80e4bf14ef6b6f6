"""Database side of an algorithm worker: which items are done, and recording a chunk."""

from __future__ import annotations

import logging
from typing import Any

from hkube_site import redis_client as rc
from pipelines.models import Task, TaskStatus

log = logging.getLogger(__name__)

FINAL = (TaskStatus.SUCCEED, TaskStatus.FAILED, TaskStatus.CRASHED)


def skip_done(spec: dict[str, Any], indices: list[int]) -> set[int]:
    """Batch indices of this chunk that already ended (a redelivered message)."""
    batch_indices = [0] if spec["mode"] == "single" else [i + 1 for i in indices]
    return set(
        Task.objects.filter(
            job_id=spec["jobId"], node_name=spec["nodeName"], batch_index__in=batch_indices, status__in=FINAL
        ).values_list("batch_index", flat=True)
    )


def record_chunk(spec: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Write every item of a chunk in one statement (insert, or update a redelivered one)."""
    if not records:
        return
    rows = [
        Task(
            job_id=spec["jobId"],
            node_name=spec["nodeName"],
            algorithm_name=spec["algorithmName"],
            **record,
        )
        for record in records
    ]
    Task.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["job", "node_name", "batch_index"],
        update_fields=["task_id", "status", "error", "result", "start_time", "end_time", "attempt", "worker"],
        batch_size=1000,
    )


def _crashed(
    runner: Any, spec: dict[str, Any], indices: list[int], done: set[int], message: str
) -> list[dict[str, Any]]:
    """The chunk's workers kept dying: its items are recorded as crashed, not run again."""
    from algorithms.runtime.runner import record

    first = 0 if spec["mode"] == "single" else 1
    return [
        record(spec, i + first, "crashed", runner.worker_id, error=message)
        for i in indices
        if i + first not in done
    ]


def execute_chunk(
    runner: Any,
    spec: dict[str, Any],
    indices: list[int],
    *,
    redelivered: bool,
    delivery_tag: str | None = None,
) -> dict[str, int]:
    """Run one chunk and record its items. Only a redelivered message looks up the items
    that already ended (the common path pays no database read before running).

    While it runs, the chunk is registered as this worker's in-flight work: if the worker
    dies, the executor puts the same message back (see scheduling.act.recover_lost_chunk).
    A node with streaming children (`*@`) records and reports its items one by one, so
    each child item starts as soon as its parent item is stored."""
    job_id, node = spec["jobId"], spec["nodeName"]
    key = rc.chunk_key(job_id, node, indices[0] if indices else 0)
    done = skip_done(spec, indices) if redelivered else set()
    crashloop = rc.crashloop_message(key) if redelivered else None
    pending = len(indices) - len(done)
    if rc.begin_chunk(job_id, node, pending):
        runner.stopped_jobs.add(job_id)
    if delivery_tag:
        record = {
            "deliveryTag": delivery_tag,
            "chunk": key,
            "retry": spec.get("retry") or {},
            "nodeName": node,
        }
        rc.set_inflight(runner.worker_id, record)
    streaming = bool(spec.get("anyChildren"))
    records: list[dict[str, Any]] = []
    try:
        groups = [[i] for i in indices] if streaming else [indices]
        for group in groups:
            if crashloop is not None:
                part = _crashed(runner, spec, group, done, crashloop)
            else:
                part = _run(runner, spec, group, done)
            if streaming:
                record_chunk(spec, part)
                _report_items(spec, part)
            records += part
    finally:
        rc.add_active(job_id, node, -pending)
    if not streaming:
        record_chunk(spec, records)
    if delivery_tag:
        rc.clear_inflight(runner.worker_id)
    summary: dict[str, int] = {}
    for item in records:
        summary[item["status"]] = summary.get(item["status"], 0) + 1
    if spec["mode"] != "single" and (summary.get("failed") or summary.get("crashed")):
        from pipelines import services

        services.check_tolerance(job_id, node)
    return summary


def _run(runner: Any, spec: dict[str, Any], indices: list[int], done: set[int]) -> list[dict[str, Any]]:
    try:
        records: list[dict[str, Any]] = runner.run_chunk(spec, indices, done)
        return records
    except Exception as exc:
        from algorithms.runtime.runner import record

        log.exception("job %s node %s: chunk failed", spec["jobId"], spec["nodeName"])
        first = 0 if spec["mode"] == "single" else 1
        return [
            record(spec, i + first, "failed", runner.worker_id, error=f"worker error: {exc}")
            for i in indices
            if i + first not in done
        ]


def _report_items(spec: dict[str, Any], records: list[dict[str, Any]]) -> None:
    from pipelines import services

    ended = [r["batch_index"] for r in records if r["status"] != "stopped"]
    if ended:
        services.items_ended(spec["jobId"], spec["nodeName"], ended)
