"""The Task rows of a node's items: the one place that writes them.

Task rows are written in bulk when a chunk of items ends, never one by one on the hot path:
the algorithm worker (`algorithms/worker.py`) and the output nodes the driver runs itself
(`pipelines/outputs.py`) build a `TaskRecord` per item and record the chunk in one statement.
A redelivered message updates the rows it wrote before (the upsert), and looks up which of
its items already ended (`ended_items`) so they are not run twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, TypedDict

from pipelines.engine import ids
from pipelines.models import FINAL_TASK_STATUSES, Task
from pipelines.taskspec import TaskSpec, batch_index


class TaskRecord(TypedDict):
    """One item's Task row (its columns, without the job, node and algorithm)."""

    batch_index: int
    task_id: str
    status: str
    error: str | None
    result: dict[str, Any] | None
    start_time: int
    end_time: int
    attempt: int
    worker: str


def task_record(
    spec: TaskSpec,
    batch_index: int,
    status: str,
    worker: str,
    *,
    error: str | None = None,
    result: dict[str, Any] | None = None,
    start: int | None = None,
    attempt: int = 1,
) -> TaskRecord:
    """How an item ended, now: a task that never started (`start` None) started now too."""
    now = int(time.time() * 1000)
    return {
        "batch_index": batch_index,
        "task_id": ids.task_id(spec["jobId"], spec["nodeName"], batch_index),
        "status": status,
        "error": error,
        "result": result,
        "start_time": start or now,
        "end_time": now,
        "attempt": attempt,
        "worker": worker,
    }


def unrun_records(
    spec: TaskSpec, indices: Iterable[int], done: set[int], status: str, worker: str, error: str
) -> list[TaskRecord]:
    """Items of a message that will not run (their worker kept dying, or the chunk failed
    outside the algorithm): one record each, except those already ended."""
    records = []
    for index in indices:
        item = batch_index(spec, index)
        if item not in done:
            records.append(task_record(spec, item, status, worker, error=error))
    return records


def ended_items(spec: TaskSpec, indices: list[int]) -> set[int]:
    """Batch indices of a message's items that already ended (a redelivered message)."""
    wanted = [batch_index(spec, i) for i in indices] if spec["mode"] != "single" else [0]
    return set(
        Task.objects.filter(
            job_id=spec["jobId"],
            node_name=spec["nodeName"],
            batch_index__in=wanted,
            status__in=FINAL_TASK_STATUSES,
        ).values_list("batch_index", flat=True)
    )


def record_chunk(spec: TaskSpec, records: list[TaskRecord]) -> None:
    """Write every item of a chunk in one statement (insert, or update a redelivered one)."""
    if not records:
        return
    rows = [
        Task(job_id=spec["jobId"], node_name=spec["nodeName"], algorithm_name=spec["algorithmName"], **record)
        for record in records
    ]
    Task.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["job", "node_name", "batch_index"],
        update_fields=["task_id", "status", "error", "result", "start_time", "end_time", "attempt", "worker"],
        batch_size=1000,
    )


def summary(records: list[TaskRecord]) -> dict[str, int]:
    """Items per status (what `run_items` returns)."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return counts
