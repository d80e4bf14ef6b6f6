"""What a running task reports besides its result: `progress` messages.

`task_events(spec, batch_index, then)` is the `on_event` handler of one task's
`run_task`. A `progress` message (`api.progress(percent, message)` in our wrappers,
`{"command": "progress", "data": {"progress", "message"}}` on the wire) is kept as the
task's latest progress in Redis: hash `hkube:progress:<jobId>`, field
`<nodeName>:<batchIndex>`, value `{"progress", "message", "timestamp"}`. The hash expires
a day after its last write (`hkube_site/redis_client.py` owns the keys). Every other
message goes on to `then` (the code-API handler, for example), whose reply is returned so
the session sends it back.

Readers: `graph/raw` and `graph/parsed` show each task's latest report (`rc.read_progress`).
`status.data` does not change: HKube's job progress is the share of ended tasks.

Writing is one pipelined round trip per message. A Redis failure is logged and the task
goes on: a lost progress report must not kill the algorithm process (the session kills
it when its event handler raises).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from algorithms.runtime import protocol as p
from hkube_site import redis_client as rc
from hkube_site.tracing import AlgorithmSpans
from pipelines.taskspec import TaskSpec

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], object]


def task_events(
    spec: TaskSpec, batch_index: int, then: Handler | None = None, spans: AlgorithmSpans | None = None
) -> Handler:
    """The `on_event` handler of one task: progress is published, `startSpan`/`finishSpan`
    open and close the algorithm's own spans (traced only when tracing is on), the rest
    goes to `then`."""
    job_id = spec["jobId"]
    field = rc.progress_field(spec["nodeName"], batch_index)

    def on_event(message: dict[str, Any]) -> object:
        command = message.get("command")
        if command == p.PROGRESS:
            publish_progress(job_id, field, message.get("data"))
            return None
        if command == p.START_SPAN or command == p.FINISH_SPAN:
            if spans is not None:
                (spans.start if command == p.START_SPAN else spans.finish)(message.get("data"))
            return None
        return then(message) if then is not None else None

    return on_event


def publish_progress(job_id: str, field: str, data: object) -> None:
    """Record one task's latest progress report (`data` as the algorithm sent it)."""
    data = data if isinstance(data, dict) else {"progress": data}
    report = {
        "progress": data.get("progress"),
        "message": data.get("message") or "",
        "timestamp": int(time.time() * 1000),
    }
    try:
        rc.write_progress(job_id, field, report)
    except redis.RedisError as exc:
        log.warning("progress of job %s %s not recorded: %s", job_id, field, exc)
