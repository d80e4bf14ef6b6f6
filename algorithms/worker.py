"""A chunk's life in an algorithm worker: run its items, record them, report them.

The Task rows themselves belong to pipelines (`pipelines/services/recording.py`)."""

from __future__ import annotations

import logging
from typing import Protocol

from django.db import transaction

from hkube_site import redis_client as rc
from pipelines import services
from pipelines.services import recording
from pipelines.services.recording import TaskRecord
from pipelines.taskspec import TaskSpec

log = logging.getLogger(__name__)


class ChunkRunner(Protocol):
    """What a chunk needs of the worker's runner (`algorithms/runtime/runner.py` Runner)."""

    worker_id: str
    stopped_jobs: set[str]

    def run_chunk(self, spec: TaskSpec, indices: list[int], already_done: set[int]) -> list[TaskRecord]: ...


def execute_chunk(
    runner: ChunkRunner,
    spec: TaskSpec,
    indices: list[int],
    *,
    redelivered: bool,
    delivery_tag: str | None = None,
    finish: bool = False,
) -> dict[str, int]:
    """Run one chunk and record its items. Only a redelivered message looks up the items
    that already ended (the common path pays no database read before running).

    While it runs, the chunk is registered as this worker's in-flight work: if the worker
    dies, the executor puts the same message back (see scheduling.act.recover_lost_chunk).
    A node with streaming children (`*@`) records and reports its items one by one, so
    each child item starts as soon as its parent item is stored.

    `finish`: this chunk is the whole node (`inlineFinish`): its rows are written and the
    node finished (the next nodes dispatched, or the job completed) in one transaction."""
    job_id, node = spec["jobId"], spec["nodeName"]
    key = rc.chunk_key(job_id, node, indices[0] if indices else 0)
    done = recording.ended_items(spec, indices) if redelivered else set()
    crashloop = rc.crashloop_message(key) if redelivered else None
    pending = len(indices) - len(done)
    inflight = None
    if delivery_tag:
        inflight = {
            "deliveryTag": delivery_tag,
            "chunk": key,
            "retry": spec.get("retry") or {},
            "nodeName": node,
        }
    if rc.begin_chunk(job_id, node, pending, runner.worker_id, inflight):
        runner.stopped_jobs.add(job_id)
    streaming = bool(spec.get("anyChildren"))
    if streaming and done:
        # The worker before may have died between recording an item and reporting it: report
        # them again (each child item is still sent once: items_ended claims it first).
        services.items_ended(job_id, node, sorted(done))
    records: list[TaskRecord] = []
    ended = False
    try:
        groups = [[i] for i in indices] if streaming else [indices]
        for group in groups:
            if crashloop is not None:
                # The chunk's workers kept dying: its items are recorded as crashed, not run again.
                part = recording.unrun_records(spec, group, done, "crashed", runner.worker_id, crashloop)
            else:
                part = _run(runner, spec, group, done)
            if streaming:
                recording.record_chunk(spec, part)
                _report_items(spec, part)
            records += part
        if finish and not streaming:
            with transaction.atomic():
                recording.record_chunk(spec, records)
                services.node_finished(job_id, node)
        elif not streaming:
            recording.record_chunk(spec, records)
        elif finish:
            services.node_finished(job_id, node)
        # Recorded: the in-flight note goes (a worker dying before this gets the message back).
        rc.end_chunk(job_id, node, pending, runner.worker_id if delivery_tag else "")
        ended = True
    finally:
        if not ended:
            rc.add_active(job_id, node, -pending)
    summary = recording.summary(records)
    if spec["mode"] != "single" and (summary.get("failed") or summary.get("crashed")):
        services.check_tolerance(job_id, node)
    return summary


def _run(runner: ChunkRunner, spec: TaskSpec, indices: list[int], done: set[int]) -> list[TaskRecord]:
    try:
        return runner.run_chunk(spec, indices, done)
    except Exception as exc:
        log.exception("job %s node %s: chunk failed", spec["jobId"], spec["nodeName"])
        return recording.unrun_records(
            spec, indices, done, "failed", runner.worker_id, f"worker error: {exc}"
        )


def _report_items(spec: TaskSpec, records: list[TaskRecord]) -> None:
    ended = [r["batch_index"] for r in records if r["status"] != "stopped"]
    if ended:
        services.items_ended(spec["jobId"], spec["nodeName"], ended)
