"""Algorithm output per task, kept in storage (not the database).

One object per task that printed something: ``<cluster>-hkube-logs/<jobId>/<taskId>``, plain
UTF-8 JSON (not HKube's encoded objects, so ``cat`` reads it)::

    {"jobId": ..., "taskId": ..., "nodeName": ..., "batchIndex": 3, "truncated": 0,
     "lines": [{"timestamp": 1700000000123, "stream": "stdout", "message": "hello"}, ...]}

``stream`` is ``stdout`` or ``stderr`` of the algorithm process, ``logData`` for lines the wrapper
sent over the socket (HKube's ``REDIRECT_LOGS``, and the only output of a debug node's remote
algorithm), or ``hkube`` for notes of ours (a new attempt, dropped lines).

Which task a line belongs to (the runner, ``algorithms/runtime/runner.py``): the algorithm worker
takes the process's captured output right before a task starts and right after it ends. Lines
captured after the end of the previous task and before this one began (the process's start-up
output, a background thread printing while the worker was idle) go first in this task's log,
marked ``"idle": true``: they are kept, never silently moved into a task's own lines. Lines
written before the task's ``done`` are always its own, even if the worker's reader threads had
not read them yet (``AlgorithmSession.drain_log_records``). Attempts of a retried task share one
log, each new attempt announced by an ``hkube`` line. A task that printed nothing writes nothing.

Bounds: the last ``MAX_LINES`` lines and ``MAX_BYTES`` of text per task are kept; ``truncated``
counts the lines dropped from the start (an ``hkube`` line says so too). Writing a log never
fails its task: a storage error is logged and the task goes on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any, TypedDict

from storage import NotFound, Storage, paths

log = logging.getLogger(__name__)

MAX_LINES = 10_000
MAX_BYTES = 5 << 20
DEFAULT_LIMIT = 1000  # lines per task in an API answer (the last ones)
MAX_TASKS = 100  # tasks per API answer: narrow down with nodeName, batchIndex or taskId


class LogLine(TypedDict, total=False):
    timestamp: int  # ms since the epoch, when the worker read the line
    stream: str
    message: str
    idle: bool


class TaskLogDocument(TypedDict):
    jobId: str
    taskId: str
    nodeName: str
    batchIndex: int
    truncated: int
    lines: list[LogLine]


def logs_prefix(cluster: str, job_id: str) -> str:
    return f"{paths.bucket(cluster, 'logs')}/{job_id}"


def log_path(cluster: str, job_id: str, task_id: str) -> str:
    return f"{logs_prefix(cluster, job_id)}/{task_id}"


class TaskLog:
    """The lines of one task, as the runner collects them over the task's attempts."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines: list[LogLine] = []

    def add(self, records: Iterable[tuple[float, str, str]], *, idle: bool = False) -> None:
        """Add ``(epoch seconds, stream, message)`` records (``AlgorithmSession.LogRecord``)."""
        for timestamp, stream, message in records:
            line: LogLine = {"timestamp": int(timestamp * 1000), "stream": stream, "message": message}
            if idle:
                line["idle"] = True
            self.lines.append(line)

    def note(self, message: str) -> None:
        self.lines.append({"timestamp": int(time.time() * 1000), "stream": "hkube", "message": message})

    def save(
        self, storage: Storage, cluster: str, job_id: str, task_id: str, node_name: str, batch_index: int
    ) -> None:
        """Write the task's log; nothing when it has no line but notes of ours."""
        if not any(line["stream"] != "hkube" for line in self.lines):
            return
        lines, truncated = bound(self.lines)
        document: TaskLogDocument = {
            "jobId": job_id,
            "taskId": task_id,
            "nodeName": node_name,
            "batchIndex": batch_index,
            "truncated": truncated,
            "lines": lines,
        }
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            storage.adapter.put_bytes(log_path(cluster, job_id, task_id), data)
        except Exception as exc:  # noqa: BLE001 - a lost log must not fail the task
            log.warning("job %s task %s: its log was not stored: %s", job_id, task_id, exc)


def bound(lines: list[LogLine]) -> tuple[list[LogLine], int]:
    """The last lines within MAX_LINES and MAX_BYTES, and how many were dropped before them."""
    kept = lines[-MAX_LINES:]
    size = 0
    start = len(kept)
    while start > 0:
        size += len(kept[start - 1]["message"]) + 64  # the message and the line's JSON around it
        if size > MAX_BYTES:
            break
        start -= 1
    kept = kept[start:]
    dropped = len(lines) - len(kept)
    if dropped:
        first = kept[0]["timestamp"] if kept else int(time.time() * 1000)
        note: LogLine = {
            "timestamp": first,
            "stream": "hkube",
            "message": f"{dropped} earlier lines were dropped: a task's log keeps the last "
            f"{MAX_LINES} lines and {MAX_BYTES >> 20} MB",
        }
        kept = [note, *kept]
    return kept, dropped


def read_task_log(storage: Storage, cluster: str, job_id: str, task_id: str) -> TaskLogDocument | None:
    """A task's stored log, or None when it printed nothing (or does not exist)."""
    try:
        data = storage.adapter.get_bytes(log_path(cluster, job_id, task_id))
    except NotFound:
        return None
    document: TaskLogDocument = json.loads(data)
    return document


def task_ids_with_logs(storage: Storage, cluster: str, job_id: str) -> set[str]:
    """The taskIds of a job that have a stored log (one listing call)."""
    prefix = logs_prefix(cluster, job_id) + "/"
    found = set()
    for name in storage.adapter.list(prefix):
        task_id = name.rsplit("/", 1)[-1]
        if task_id and not task_id.startswith("."):  # the filesystem adapter's temporary files
            found.add(task_id)
    return found


def delete_job_logs(storage: Storage, cluster: str, job_id: str) -> int:
    """Remove every log of a job (for whoever cleans up a job's storage)."""
    return storage.adapter.delete_prefix(logs_prefix(cluster, job_id))


# --- reading a job's logs (the API, hkubectl and the admin) ---------------------------------------


def job_logs(
    job_id: str,
    *,
    node_name: str | None = None,
    task_id: str | None = None,
    batch_index: int | None = None,
    limit: int = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """``{jobId, total, logs: [{nodeName, taskId, batchIndex, truncated, lines}]}``.

    Tasks come in node order (as in the descriptor), then by batchIndex; at most MAX_TASKS of
    them, each with its last ``limit`` lines. ``total`` counts every matching task with a log.
    Which task a stored log belongs to is computed (taskIds derive from jobId, node and
    batchIndex), so the logs of a batch still running are readable before its task rows exist.
    """
    from hkube_site.object_store import get_storage
    from pipelines.engine import ids
    from pipelines.models import JobNode
    from pipelines.services.common import cluster

    storage, name = get_storage(), cluster()
    if task_id is not None:  # one object: its document names its node and item
        document = read_task_log(storage, name, job_id, task_id)
        found = document is not None and (
            (node_name is None or document["nodeName"] == node_name)
            and (batch_index is None or document["batchIndex"] == batch_index)
        )
        documents = [document] if document is not None and found else []
        return {"jobId": job_id, "total": len(documents), "logs": [_entry(d, limit) for d in documents]}
    stored = task_ids_with_logs(storage, name, job_id)
    nodes = JobNode.objects.filter(job_id=job_id).order_by("position")
    if node_name is not None:
        nodes = nodes.filter(node_name=node_name)
    matches: list[str] = []
    for node, is_batch, total in nodes.values_list("node_name", "is_batch", "total"):
        indices = range(1, total + 1) if is_batch else range(1)
        if batch_index is not None:
            indices = range(batch_index, batch_index + 1) if batch_index in indices else range(0)
        for index in indices:
            tid = ids.task_id(job_id, node, index)
            if tid in stored:
                matches.append(tid)
    entries = []
    for tid in matches[:MAX_TASKS]:
        document = read_task_log(storage, name, job_id, tid)
        if document is not None:  # else removed since the listing
            entries.append(_entry(document, limit))
    return {"jobId": job_id, "total": len(matches), "logs": entries}


def _entry(document: TaskLogDocument, limit: int) -> dict[str, Any]:
    lines = document["lines"][-limit:] if limit > 0 else []
    return {
        "nodeName": document["nodeName"],
        "taskId": document["taskId"],
        "batchIndex": document["batchIndex"],
        "truncated": document.get("truncated", 0) + len(document["lines"]) - len(lines),
        "lines": lines,
    }
