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


def execute_chunk(
    runner: Any, spec: dict[str, Any], indices: list[int], *, redelivered: bool
) -> dict[str, int]:
    """Run one chunk and record its items. Only a redelivered message looks up the items
    that already ended (the common path pays no database read before running)."""
    job_id, node = spec["jobId"], spec["nodeName"]
    done = skip_done(spec, indices) if redelivered else set()
    pending = len(indices) - len(done)
    if rc.begin_chunk(job_id, node, pending):
        runner.stopped_jobs.add(job_id)
    try:
        records = runner.run_chunk(spec, indices, done)
    except Exception as exc:
        log.exception("job %s node %s: chunk failed", job_id, node)
        first = 0 if spec["mode"] == "single" else 1
        records = [
            {"batch_index": i + first, "task_id": "", "status": "failed", "error": f"worker error: {exc}",
             "result": None, "start_time": None, "end_time": None, "attempt": 1, "worker": runner.worker_id}
            for i in indices
            if i + first not in done
        ]  # fmt: skip
    finally:
        rc.add_active(job_id, node, -pending)
    record_chunk(spec, records)
    summary: dict[str, int] = {}
    for record in records:
        summary[record["status"]] = summary.get(record["status"], 0) + 1
    return summary
