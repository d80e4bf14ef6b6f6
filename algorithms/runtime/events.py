"""What a running task reports besides its result: `progress` messages.

`task_events(spec, batch_index, then)` is the `on_event` handler of one task's
`run_task`. A `progress` message (`api.progress(percent, message)` in our wrappers,
`{"command": "progress", "data": {"progress", "message"}}` on the wire) is kept as the
task's latest progress in Redis: hash `hkube:progress:<jobId>`, field
`<nodeName>:<batchIndex>`, value `{"progress", "message", "timestamp"}`. The hash expires
a day after its last write. Every other message goes on to `then` (the code-API handler,
for example), whose reply is returned so the session sends it back.

Readers: `graph/raw` and `graph/parsed` show each task's latest report (`read_progress`).
`status.data` does not change: HKube's job progress is the share of ended tasks.

Writing is one pipelined round trip per message. A Redis failure is logged and the task
goes on: a lost progress report must not kill the algorithm process (the session kills
it when its event handler raises).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from algorithms.runtime import protocol as p

log = logging.getLogger(__name__)

PROGRESS_PREFIX = "hkube:progress:"  # hash per job: "<node>:<batchIndex>" -> json
PROGRESS_TTL_SECONDS = 24 * 3600

Handler = Callable[[dict[str, Any]], object]


def progress_key(job_id: str) -> str:
    return PROGRESS_PREFIX + job_id


def progress_field(node_name: str, batch_index: int) -> str:
    return f"{node_name}:{batch_index}"


def task_events(spec: Mapping[str, Any], batch_index: int, then: Handler | None = None) -> Handler:
    """The `on_event` handler of one task: progress is published, the rest goes to `then`."""
    key = progress_key(str(spec["jobId"]))
    field = progress_field(str(spec["nodeName"]), batch_index)

    def on_event(message: dict[str, Any]) -> object:
        if message.get("command") == p.PROGRESS:
            publish_progress(key, field, message.get("data"))
            return None
        return then(message) if then is not None else None

    return on_event


def publish_progress(key: str, field: str, data: object) -> None:
    """Record one task's latest progress report (`data` as the algorithm sent it)."""
    data = data if isinstance(data, dict) else {"progress": data}
    record = {
        "progress": data.get("progress"),
        "message": data.get("message") or "",
        "timestamp": int(time.time() * 1000),
    }
    from hkube_site import redis_client as rc

    try:
        pipe = rc.client().pipeline(transaction=False)
        pipe.hset(key, field, json.dumps(record))
        pipe.expire(key, PROGRESS_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("progress of %s %s not recorded: %s", key, field, exc)


def read_progress(job_id: str) -> dict[str, dict[str, Any]]:
    """Every task's latest progress report of a job, by `<nodeName>:<batchIndex>`."""
    from hkube_site import redis_client as rc

    raw = rc.client().hgetall(progress_key(job_id))
    found: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        field = name.decode() if isinstance(name, bytes) else str(name)
        try:
            found[field] = json.loads(value)
        except ValueError:
            log.warning("job %s: unreadable progress record for %s", job_id, field)
    return found
