"""Sub-pipelines started from algorithm code, on the worker side (semantics §6.2, protocol §3-§4.2).

While its task runs, an algorithm sends ``startRawSubPipeline`` / ``startStoredSubPipeline``
``{subPipelineId, subPipeline, includeResult}``. The worker answers ``subPipelineStarted``,
submits the child job (linked to the task's job), and once the child ends sends
``subPipelineDone {subPipelineId, response}`` / ``subPipelineError {subPipelineId, error}`` /
``subPipelineStopped {subPipelineId, reason}`` on the same socket. That reply comes from
another thread while ``run_task`` is blocked reading the socket (``AlgorithmSession.send``).
``stopSubPipeline {subPipelineId, reason}`` stops a child; its caller then gets
``subPipelineStopped`` with reason ``stopped by algorithm: <reason>``.

How the end of a child reaches the worker: every job end is published on the control channel
(``pipelines.events.finished``); the worker's control listener passes it to ``job_finished``,
which wakes the one delivery thread if the job is watched here. The delivery thread reads the
child's outcome and answers. It also checks each child once right after it is watched (the
child may have ended before the watch existed), and every ``SWEEP_SECONDS`` it checks all
watched children, so a message lost to a Redis reconnect cannot leave an algorithm waiting
forever. A child is unwatched before it is answered or stopped, under one lock, so it is
answered at most once.

When the task ends, whatever the outcome, every child it started that is still watched is
stopped, with HKube's worker's reasons (``parent algorithm entered state results``,
``parent algorithm failed: <message>``, ``parent pipeline stopped. <why>``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal, Protocol

from algorithms.runtime import protocol as p
from algorithms.runtime.session import AlgorithmSession, TaskOutcome

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5.0

Kind = Literal["raw", "stored"]
#: ``(status, detail)``: ('completed', result data or None), ('failed', error) or ('stopped', reason).
Outcome = tuple[str, Any]

_KINDS: dict[str, Kind] = {p.START_RAW_SUB_PIPELINE: "raw", p.START_STORED_SUB_PIPELINE: "stored"}


class Backend(Protocol):
    """Where child jobs live (the database, through ``pipelines.subpipelines``; a fake in tests)."""

    def start(
        self, kind: Kind, sub_pipeline: dict[str, Any], *, parent_job_id: str, root_job_id: str | None
    ) -> str: ...

    def outcome(self, job_id: str, *, with_result: bool, inline_big_data: bool) -> Outcome | None: ...

    def stop(self, job_id: str, reason: str) -> None: ...


class DjangoBackend:
    """The real backend: the services, from the algorithm worker's process."""

    def start(
        self, kind: Kind, sub_pipeline: dict[str, Any], *, parent_job_id: str, root_job_id: str | None
    ) -> str:
        from pipelines import subpipelines

        return subpipelines.start(kind, sub_pipeline, parent_job_id=parent_job_id, root_job_id=root_job_id)

    def outcome(self, job_id: str, *, with_result: bool, inline_big_data: bool) -> Outcome | None:
        from django.db import close_old_connections

        from pipelines import subpipelines

        close_old_connections()  # the delivery thread lives long; drop a connection that broke
        return subpipelines.outcome(job_id, with_result=with_result, inline_big_data=inline_big_data)

    def stop(self, job_id: str, reason: str) -> None:
        from pipelines import subpipelines

        subpipelines.stop(job_id, reason)


def _error_text(exc: BaseException) -> str:
    return str(getattr(exc, "message", "") or exc) or type(exc).__name__


class Watches:
    """The children this process waits on (child jobId -> the task and its subPipelineId),
    and the thread that answers them."""

    def __init__(self, sweep_seconds: float = SWEEP_SECONDS) -> None:
        self.sweep_seconds = sweep_seconds
        self._lock = threading.Lock()
        self._by_job: dict[str, tuple[TaskCodeApi, str]] = {}
        self._wake: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def add(self, job_id: str, api: TaskCodeApi, sub_pipeline_id: str) -> None:
        with self._lock:
            self._by_job[job_id] = (api, sub_pipeline_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._deliver_loop, name="code-api-delivery", daemon=True
                )
                self._thread.start()
        self._wake.put(job_id)  # the child may have ended already

    def remove(self, job_id: str) -> bool:
        """Unwatch a child; True for the one caller that may answer or stop it."""
        with self._lock:
            return self._by_job.pop(job_id, None) is not None

    def job_finished(self, job_id: str) -> None:
        """A job ended (from the control listener: cheap when it is not watched here)."""
        if job_id in self._by_job:
            self._wake.put(job_id)

    def watched(self) -> list[str]:
        with self._lock:
            return list(self._by_job)

    def _deliver_loop(self) -> None:
        while True:
            try:
                job_ids = [self._wake.get(timeout=self.sweep_seconds)]
            except queue.Empty:
                job_ids = self.watched()
            for job_id in job_ids:
                try:
                    self._check(job_id)
                except Exception:  # the next sweep tries again
                    log.exception("sub-pipeline %s: could not answer its parent task", job_id)

    def _check(self, job_id: str) -> None:
        entry = self._by_job.get(job_id)
        if entry is None:
            return
        api, sub_pipeline_id = entry
        outcome = api.outcome_of(job_id, sub_pipeline_id)
        if outcome is not None and self.remove(job_id):
            api.deliver(sub_pipeline_id, outcome)


_watches = Watches()


def watches() -> Watches:
    """This process's watches (the worker's control listener feeds ``job_finished``)."""
    return _watches


def job_finished(job_id: str) -> None:
    _watches.job_finished(job_id)


class TaskCodeApi:
    """The code-API requests of one task; use it as a context manager around ``run_task``:

    ``with TaskCodeApi(session, payload) as api:
    outcome = api.ended(session.run_task(payload, on_event=api.on_event))``

    Leaving the block stops the children still running.
    """

    def __init__(
        self,
        session: AlgorithmSession,
        task: Mapping[str, Any],
        backend: Backend | None = None,
        registry: Watches | None = None,
    ) -> None:
        self.session = session
        self.job_id = str(task["jobId"])
        self.root_job_id = (task.get("info") or {}).get("rootJobId")
        self.backend: Backend = backend or DjangoBackend()
        self.registry = registry or _watches
        self.children: dict[str, str] = {}  # subPipelineId -> child jobId
        self._include: dict[str, bool] = {}
        self._task: int | None = None  # the session's task number, read while the task runs
        self._outcome: TaskOutcome | None = None

    # --- the task's messages (on run_task's thread) -------------------------------------------

    def on_event(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Handle a code-API request; returns the reply to send now, if any."""
        command = message.get("command")
        data = message.get("data")
        data = data if isinstance(data, dict) else {}
        kind = _KINDS.get(str(command))
        if kind is not None:
            return self._start(kind, data)
        if command == p.STOP_SUB_PIPELINE:
            return self._stop(data)
        return None

    def _start(self, kind: Kind, data: dict[str, Any]) -> dict[str, Any] | None:
        self._task = self.session.current_task
        sub_pipeline_id = data.get("subPipelineId")
        sub_pipeline = data.get("subPipeline")
        if not isinstance(sub_pipeline_id, str | int) or str(sub_pipeline_id) in self.children:
            return _error(sub_pipeline_id, "subPipelineId must be a new string for each sub-pipeline")
        if not isinstance(sub_pipeline, dict) or not sub_pipeline.get("name"):
            return _error(sub_pipeline_id, "subPipeline must be an object with a name")
        # Started goes before the child exists, as HKube's worker does: a refusal then arrives
        # as subPipelineError, and the child's end can never overtake it.
        self.session.send(
            {"command": p.SUB_PIPELINE_STARTED, "data": {"subPipelineId": sub_pipeline_id}}, task=self._task
        )
        try:
            child = self.backend.start(
                kind, sub_pipeline, parent_job_id=self.job_id, root_job_id=self.root_job_id
            )
        except Exception as exc:  # noqa: BLE001 - any refusal goes back to the algorithm
            return _error(sub_pipeline_id, _error_text(exc))
        key = str(sub_pipeline_id)
        self.children[key] = child
        self._include[key] = data.get("includeResult", True) is not False
        log.info("job %s started sub-pipeline %s (%s)", self.job_id, child, sub_pipeline.get("name"))
        self.registry.add(child, self, key)
        return None

    def _stop(self, data: dict[str, Any]) -> dict[str, Any] | None:
        sub_pipeline_id = data.get("subPipelineId")
        child = self.children.get(str(sub_pipeline_id))
        if child is None:
            return _error(sub_pipeline_id, f"cannot stop subPipeline - not found: {sub_pipeline_id}")
        # Still watched: the caller gets subPipelineStopped once the child has stopped.
        try:
            self.backend.stop(child, f"stopped by algorithm: {data.get('reason')}")
        except Exception as exc:  # noqa: BLE001 - reported to the algorithm
            return _error(sub_pipeline_id, _error_text(exc))
        return None

    # --- the delivery thread ---------------------------------------------------------------------

    def outcome_of(self, job_id: str, sub_pipeline_id: str) -> Outcome | None:
        return self.backend.outcome(
            job_id,
            with_result=self._include.get(sub_pipeline_id, True),
            inline_big_data=self.session.storage_mode != "v3",  # HKube's wrapper reads big data itself
        )

    def deliver(self, sub_pipeline_id: str, outcome: Outcome) -> None:
        status, detail = outcome
        if status == "completed":
            message = {
                "command": p.SUB_PIPELINE_DONE,
                "data": {"subPipelineId": sub_pipeline_id, "response": detail},
            }
        elif status == "stopped":
            message = {
                "command": p.SUB_PIPELINE_STOPPED,
                "data": {"subPipelineId": sub_pipeline_id, "reason": detail},
            }
        else:
            message = _error(sub_pipeline_id, str(detail))
        if not self.session.send(message, task=self._task):
            log.info(
                "job %s: sub-pipeline %s ended after its task",
                self.job_id,
                self.children.get(sub_pipeline_id),
            )

    # --- the task's end ----------------------------------------------------------------------------

    def ended(self, outcome: TaskOutcome) -> TaskOutcome:
        """Record how the task ended (for the reason its children are stopped with)."""
        self._outcome = outcome
        return outcome

    def __enter__(self) -> TaskCodeApi:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.children:
            self.stop_children(self._stop_reason(exc))

    def stop_children(self, reason: str) -> list[str]:
        """Stop every child of this task that is still watched; returns their jobIds."""
        stopped = []
        for child in self.children.values():
            if not self.registry.remove(child):
                continue  # answered already
            try:
                self.backend.stop(child, reason)
            except Exception:  # the job stop cascade and the child TTL remain
                log.exception("job %s: could not stop sub-pipeline %s", self.job_id, child)
            stopped.append(child)
        return stopped

    def _stop_reason(self, exc: BaseException | None) -> str:
        outcome = self._outcome
        if outcome is None:
            return f"parent algorithm failed: {_error_text(exc) if exc else 'the worker failed'}"
        if outcome.status == "done":
            return "parent algorithm entered state results"
        if outcome.status == "stopped":
            return "parent pipeline stopped"
        if outcome.status == "timeout":
            return "parent pipeline stopped. Algorithm TTL expired"
        return f"parent algorithm failed: {(outcome.error or {}).get('message') or outcome.status}"


def _error(sub_pipeline_id: Any, error: str) -> dict[str, Any]:
    return {"command": p.SUB_PIPELINE_ERROR, "data": {"subPipelineId": sub_pipeline_id, "error": error}}
