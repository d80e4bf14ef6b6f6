"""Algorithm-worker and executor tasks.

`run_items` runs on `algorithm.<name>` queues, in algorithm workers started by the
executor (`HKUBE_WORKER_ALGORITHM` set). `reconcile_workers` runs on `control`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

from algorithms import executor
from algorithms.models import Algorithm
from algorithms.runtime import code_api
from algorithms.worker import execute_chunk
from hkube_site import queues
from hkube_site import redis_client as rc
from hkube_site.task_retry import DATABASE_RETRY
from pipelines import services, taskspec
from pipelines.taskspec import RUN_ITEMS, TaskSpec

if TYPE_CHECKING:
    from algorithms.runtime.runner import Runner

log = logging.getLogger(__name__)

_runner: Runner | None = None
_runner_lock = threading.Lock()
_running_tag: str | None = None  # the delivery tag of the chunk this worker runs now
WORKER_ID = ""
WORKER_ALGORITHM = ""


def configure_worker() -> None:
    """Read this process's worker id and algorithm from its environment. Called at import, and
    again by a worker forked from the warm fork server (`algorithms/forkserver.py`), which
    imported this module under its own environment."""
    global WORKER_ID, WORKER_ALGORITHM
    WORKER_ID = os.environ.get("HKUBE_WORKER_ID", f"{socket.gethostname()}-{os.getpid()}")
    WORKER_ALGORITHM = os.environ.get("HKUBE_WORKER_ALGORITHM", "")


configure_worker()


def runner() -> Runner:
    """The worker's one Runner. The heartbeat, warm-up, control and task threads all ask
    for it at start-up, so it is created under a lock: two instances would mean two
    algorithm processes and stop messages sent to the idle one. Created on first use: only
    algorithm workers load the runtime. In a worker pod (`HKUBE_WORKER_SOCKET_PORT` set) no
    process is spawned: the worker listens for the algorunner container (`runtime/pod.py`)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            from algorithms.runtime import pod
            from algorithms.runtime.runner import Runner
            from hkube_site.object_store import get_storage

            port = pod.socket_port()
            if port is None:
                _runner = Runner(get_storage(), WORKER_ID, settings.HKUBE_FILE_VALUES_THRESHOLD)
            else:
                _runner = pod.PodRunner(get_storage(), WORKER_ID, pod.PodSession(port))
        return _runner


@shared_task(name=RUN_ITEMS, acks_late=True, bind=True, **DATABASE_RETRY)
def run_items(self: Any, spec: TaskSpec, indices: list[int]) -> dict[str, int]:
    """Run a chunk of a node's items. An item's failure is recorded, never raised: a chord
    must always reach its callback. A node sent as one message is finished right here.
    Sent by name from pipelines (`pipelines/services/sending.py`)."""
    delivery = self.request.delivery_info or {}
    # kombu keeps the delivery tag in the message properties; with it, the executor can
    # put this very message back if the worker dies (scheduling.act.recover_lost_chunk).
    tag = (getattr(self.request, "properties", None) or {}).get("delivery_tag")
    stream = taskspec.is_stream(spec)
    global _running_tag
    _running_tag = tag  # the heartbeat renews it: a long task is not delivered twice
    try:
        summary = execute_chunk(
            runner(),
            spec,
            indices,
            redelivered=bool(delivery.get("redelivered")),
            delivery_tag=tag,
            finish=not stream and bool(spec.get("inlineFinish")),
        )
    finally:
        _running_tag = None
    if stream:  # a stream task's end is the stream job's (docs/streaming.md)
        ended = "succeed" if summary.get("succeed") else "ended"
        services.stream_task_ended(spec["jobId"], spec["nodeName"], ended)
    return summary


@shared_task(name="algorithms.tasks.reconcile_workers", ignore_result=True)
def reconcile_workers() -> None:
    executor.reconcile()


def poke_executor(algorithm_name: str) -> None:
    """Ask the executor to run now when no worker of this algorithm is alive."""
    client = rc.client()
    if client.exists(rc.alive_key(algorithm_name)):
        return
    if client.set(rc.RECONCILE_DEBOUNCE, "1", nx=True, px=300):
        reconcile_workers.apply_async(queue=queues.CONTROL)


# --- algorithm worker process: heartbeat and control messages ----------------------------------


def _heartbeat_loop(stop: threading.Event) -> None:
    client = rc.client()
    started = time.time()
    while not stop.is_set():
        state = runner()
        record = {
            "id": WORKER_ID,
            "algorithm": WORKER_ALGORITHM,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "busy": bool(state.busy),
            # The algorithm process runs in its own process group: shutdown kills it too.
            "algorithmPid": state.session.pid if state.session is not None else None,
            "lastActive": state.last_active,
            "started": started,
            "seen": time.time(),
        }
        pipe = client.pipeline()
        pipe.hset(rc.WORKERS_KEY, WORKER_ID, json.dumps(record))
        pipe.set(rc.alive_key(WORKER_ALGORITHM), WORKER_ID, ex=10)
        tag = _running_tag
        if tag:
            # Stream tasks run for days, batch tasks may run past the broker's visibility
            # timeout: while this worker lives, its message stays its own (a dead worker's
            # is put back by the executor, scheduling/act.py).
            rc.renew_delivery(pipe, tag)
        pipe.execute()
        stop.wait(2.0)


def _control_loop(stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            pubsub = rc.client().pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
            pubsub.subscribe(rc.CONTROL_CHANNEL)
            while not stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if not message:
                    continue
                data = json.loads(message["data"])
                if "stop" in data:
                    runner().on_stop(str(data["stop"]))
                elif "stopReplica" in data:  # the autoscaler (algorithms/stream_scaling.py)
                    replica = data["stopReplica"]
                    runner().on_stop_replica(
                        str(replica["jobId"]), str(replica["nodeName"]), int(replica["batchIndex"])
                    )
                elif "finished" in data:  # a sub-pipeline's parent task may be waiting here
                    code_api.job_finished(str(data["finished"]))
        except Exception as exc:  # noqa: BLE001 - reconnect after a Redis hiccup
            log.warning("control channel: %s; reconnecting", exc)
            stop.wait(1.0)


_stop_event = threading.Event()


@worker_ready.connect
def _on_worker_ready(**_: Any) -> None:
    if not WORKER_ALGORITHM:
        return
    for target in (_heartbeat_loop, _control_loop):
        threading.Thread(target=target, args=(_stop_event,), daemon=True, name=target.__name__).start()

    def warm() -> None:
        # Start the algorithm process now so the first task pays no start-up cost.
        try:
            algorithm = Algorithm.objects.filter(name=WORKER_ALGORITHM).first()
            if algorithm and algorithm.version:
                runner().prewarm(WORKER_ALGORITHM, algorithm.version)
        except Exception as exc:  # noqa: BLE001 - the first task reports the real error
            log.warning("could not pre-start algorithm %s: %s", WORKER_ALGORITHM, exc)

    threading.Thread(target=warm, daemon=True).start()


@worker_shutdown.connect
def _on_worker_shutdown(**_: Any) -> None:
    if not WORKER_ALGORITHM:
        return
    _stop_event.set()
    if _runner is not None:
        _runner.close()
    client = rc.client()
    client.hdel(rc.WORKERS_KEY, WORKER_ID)
    if client.get(rc.alive_key(WORKER_ALGORITHM)) == WORKER_ID.encode():
        client.delete(rc.alive_key(WORKER_ALGORITHM))
