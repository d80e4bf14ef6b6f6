"""Database side of an algorithm worker: which items are done, and recording a chunk."""

from __future__ import annotations

from typing import Any

from pipelines.models import Task, TaskStatus

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
