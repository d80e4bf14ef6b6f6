"""A stream job's task in an algorithm worker (docs/streaming.md): long-lived, it runs the
algorithm with a ``Relay`` between its socket and the job's Redis streams until the job
stops (or, for a stateful node, until its ``start`` returns).

- An algorithm that fails or crashes is started again (backing off up to 5 s): task errors do
  not end a stream job, and a stateless replica keeps serving (its unacknowledged messages
  are read again by the new run, or taken over by another replica).
- A stop drains first: the relay goes on until the node's incoming streams stay empty, then
  the algorithm gets ``stop`` (not forced), and answers ``stopping`` while it drains its own
  queue.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from django.conf import settings

from algorithms.runtime import code_api
from algorithms.runtime.events import task_events
from algorithms.runtime.session import AlgorithmSession, TaskOutcome
from algorithms.runtime.streams.relay import BATCH_FIELD, Relay, delivery
from algorithms.runtime.streams.transport import PACKER, Consumer, Producer
from hkube_site import redis_client as rc
from pipelines.engine import ids
from pipelines.logs import TaskLog
from pipelines.services.recording import TaskRecord
from pipelines.services.recording import task_record as record
from pipelines.taskspec import TaskSpec

log = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0


def session_env() -> dict[str, str]:
    """The environment a stream task's algorithm process gets beyond the usual: HKube's wrapper
    in its v1 mode (``streamingOutMessage`` through this worker, not its own ZeroMQ peers),
    and a free port for the ZeroMQ producer it still opens when the node has next nodes."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {"STORAGE_PROTOCOL": "v1", "STREAMING_DISCOVERY_PORT": str(port)}


class Runner(Protocol):
    """What a stream task needs of the worker's runner (``runner.Runner``)."""

    worker_id: str
    stopped_jobs: set[str]
    stream: StreamTask | None

    def store_outcome(
        self, session: AlgorithmSession, spec: TaskSpec, task_id: str, outcome: TaskOutcome
    ) -> dict[str, Any]: ...


class StreamTask:
    """The stream task a worker runs now; ``stop`` may come from the control thread."""

    def __init__(self, job_id: str, node: str = "", batch_index: int = 0) -> None:
        self.job_id = job_id
        self.node = node
        self.batch_index = batch_index
        self.stopping = False
        self.released = False  # stopped by the autoscaler, not with its job
        self.relay: Relay | None = None
        self.session: AlgorithmSession | None = None
        self.run: int | None = None  # the session's task number of the algorithm's current run
        self.ended = False
        self._lock = threading.Lock()

    def stop(self) -> None:
        with self._lock:
            if self.stopping:
                return
            self.stopping = True
        threading.Thread(target=self._drain_then_stop, name="stream-stop", daemon=True).start()

    def release(self) -> None:
        """The autoscaler stops this replica: it takes no new message, finishes the batch it
        has (acknowledged as usual; the other replicas take what is left), then the algorithm
        gets ``stop``."""
        with self._lock:
            if self.stopping:
                return
            self.stopping = self.released = True
        threading.Thread(
            target=self._drain_then_stop, args=(False,), name="stream-release", daemon=True
        ).start()

    def _drain_then_stop(self, wait_for_quiet: bool = True) -> None:
        deadline = time.monotonic() + 10.0
        # A stop that comes while the algorithm is being (re)started waits for its run.
        while (self.relay is None or self.session is None) and not self.ended:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.1)
        relay, session = self.relay, self.session
        if relay is None or session is None:
            return
        if wait_for_quiet:
            relay.drain(DRAIN_SECONDS)
        else:
            relay.release(DRAIN_SECONDS)
        deadline = time.monotonic() + 10.0
        # The task may be between two runs of its algorithm: wait for the run to begin. Only a
        # run of this task is stopped: once it ended, the warm process may already serve the
        # worker's next task (a stop that reached it ended another job's sink).
        while not self.ended and time.monotonic() < deadline:
            session, run = self.session, self.run
            if session is not None and (session.stop(force=False, task=run) or not session.alive):
                return
            time.sleep(0.1)


def run(
    runner: Runner,
    session_of: Callable[[], AlgorithmSession],
    spec: TaskSpec,
    payload_of: Callable[[AlgorithmSession], dict[str, Any]],
    batch_index: int,
    task_log: TaskLog,
) -> TaskRecord:
    """Run one stream task to its end; returns its row."""
    job_id, node = spec["jobId"], spec["nodeName"]
    task_id = ids.task_id(job_id, node, batch_index)
    started = int(time.time() * 1000)
    task = StreamTask(job_id, node, batch_index)
    runner.stream = task
    client = rc.client(command_packer=PACKER)
    keys = rc.stream_keys(job_id)
    flows = spec.get("parsedFlow") or {}
    max_bytes = int(settings.STREAMING_MAX_BUFFER_MB) * 1024 * 1024
    attempt = 0
    try:
        while True:
            attempt += 1
            if task.stopping or job_id in runner.stopped_jobs:
                return _stopped(runner, spec, batch_index, started, task.released)
            session = session_of()
            producer = (
                Producer(client, keys, node, max_buffer_bytes=max_bytes) if spec.get("childs") else None
            )
            consumer = Consumer(client, keys, node, list(spec.get("parents") or []), task_id)
            relay = Relay(
                node=node,
                # A new run's own messages are new ones, even after the worker itself died.
                run=f"{batch_index}.{uuid.uuid4().hex[:8]}",
                flows=flows,
                default_flow=str(spec.get("defaultFlow") or ""),
                producer=producer,
                consumer=consumer,
                send=session.send,
                **delivery(pipelined=session.pipelined, batched=session.stream_batch),
            )
            payload = payload_of(session)
            if session.stream_batch:
                payload[BATCH_FIELD] = True
            # The run's task number: run_task numbers it next (one task at a time per session).
            task.relay, task.session, task.run = relay, session, session.current_task + 1
            outcome = _run_once(session, spec, batch_index, payload, relay)
            task.relay = task.session = None
            task_log.add(session.drain_log_records())
            if task.stopping or outcome.status == "stopped":
                return _stopped(runner, spec, batch_index, started, task.released)
            if outcome.status == "done" and spec.get("stateType") == "stateful":
                result = runner.store_outcome(session, spec, task_id, outcome)
                return record(
                    spec,
                    batch_index,
                    "succeed",
                    runner.worker_id,
                    result=result,
                    start=started,
                    attempt=attempt,
                )
            message = (outcome.error or {}).get("message") or outcome.status
            task_log.note(f"attempt {attempt}: {message}; the algorithm starts again")
            log.warning("stream job %s node %s: %s; starting it again", job_id, node, message)
            time.sleep(min(5.0, 0.2 * attempt))
    finally:
        task.ended = True
        runner.stream = None


def _stopped(
    runner: Runner, spec: TaskSpec, batch_index: int, started: int, released: bool = False
) -> TaskRecord:
    why = "replica stopped by the autoscaler" if released else "job stopped"
    return record(spec, batch_index, "stopped", runner.worker_id, error=why, start=started)


def _run_once(
    session: AlgorithmSession, spec: TaskSpec, batch_index: int, payload: dict[str, Any], relay: Relay
) -> TaskOutcome:
    """One run of the algorithm: the streaming messages go to the relay; progress, spans and
    the code API (sub-pipelines, algorithm executions) are served as in a batch task."""
    relay.start()
    try:
        with code_api.TaskCodeApi(session, payload) as api:  # its exit stops leftover sub-pipelines
            others = task_events(spec, batch_index, api.on_event)

            def on_event(message: dict[str, Any]) -> object:
                return None if relay.on_event(message) else others(message)

            return api.ended(session.run_task(payload, on_event=on_event))
    finally:
        relay.close()
