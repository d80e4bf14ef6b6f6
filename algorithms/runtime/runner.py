"""Runs chunks of items in an algorithm worker: one warm algorithm process per worker.

For each item: expand the node's plan, resolve references (our wrappers get values, a
wrapper that reads storage itself gets links), drive the algorithm over the socket,
store the output at `<cluster>-hkube/<jobId>/<taskId>`, and at the end of the chunk
write every item's Task row in one statement. This is the hot path: no per-item
database round trip, no per-item Redis call.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

from algorithms import dev_sources
from algorithms.runtime import code_api, file_values, limits, stream_task
from algorithms.runtime.events import task_events
from algorithms.runtime.session import AlgorithmSession, TaskOutcome
from builds import languages
from builds.languages.base import StorageSite, Version
from builds.languages.hkube_wrapper import HKUBE_WRAPPER
from builds.languages.launch_env import runtime_env
from hkube_site import tracing
from pipelines import taskspec
from pipelines.engine import ids, planning, references
from pipelines.engine.retry import retry_of
from pipelines.engine.shapes import Plan
from pipelines.logs import TaskLog
from pipelines.services.recording import TaskRecord
from pipelines.services.recording import task_record as record
from pipelines.taskspec import TaskSpec
from pipelines.values import ValueCache
from storage import Storage, paths

log = logging.getLogger(__name__)


class AlgorithmUnavailable(Exception):
    """The algorithm cannot run here (no code, no version, or the process won't start)."""


class Runner:
    """Process-wide state of one algorithm worker."""

    def __init__(
        self, storage: Storage, worker_id: str, file_threshold: int = file_values.DEFAULT_THRESHOLD
    ) -> None:
        """``file_threshold``: values over this many bytes go as files to and from wrappers that
        can (``runtime/file_values.py``); 0 sends every value inline."""
        self.storage = storage
        self.files = file_values.fs_adapter(storage, file_threshold)
        self.file_threshold = file_threshold
        self.worker_id = worker_id
        self.session: AlgorithmSession | None = None
        self.session_key: tuple[str, str] | None = None
        # Dev mode: the synced code's revision the session runs (None: nothing synced yet);
        # a session of a version without devMode has no revision to follow.
        self.dev_mode = False
        self.dev_revision: str | None = None
        self.cache = ValueCache(storage)
        self.stopped_jobs: set[str] = set()
        self.current_job: str | None = None
        self.busy = False
        self.last_active = time.time()
        self.lock = threading.RLock()  # prewarm holds it around session_for
        self.stream: stream_task.StreamTask | None = None  # the stream task running now

    # --- control (called from the control-listener thread) -----------------------------
    def on_stop(self, job_id: str) -> None:
        self.stopped_jobs.add(job_id)
        stream = self.stream
        if stream is not None and stream.job_id == job_id:
            stream.stop()  # drains first (stream_task.py)
            return
        session = self.session
        if self.current_job == job_id and session is not None:
            session.stop(force=True)

    def on_stop_replica(self, job_id: str, node: str, batch_index: int) -> None:
        """The autoscaler scales a stateless stream node down: this replica, if it runs here."""
        stream = self.stream
        if stream is not None and (stream.job_id, stream.node, stream.batch_index) == (
            job_id,
            node,
            batch_index,
        ):
            stream.release()

    def close(self) -> None:
        with self.lock:
            if self.session is not None:
                self.session.close()
                self.session = None

    # --- sessions --------------------------------------------------------------------------
    def session_for(
        self, algorithm_name: str, version: str, debug: bool = False, stream: bool = False
    ) -> AlgorithmSession:
        """The warm session for this algorithm version; a debug node's tasks (``debug``) get a
        session that waits for a developer's algorithm to connect instead (algorithms/debug.py).
        A stream task's session (``stream``) runs HKube's wrapper in its v1 mode, where messages
        go through this worker (stream_task.py)."""
        key = (algorithm_name, version) if not debug else (algorithm_name, "debug")
        if stream and not debug:
            key = (algorithm_name, f"{version}:stream")
        with self.lock:
            if self.session is not None and (
                self.session_key != key or not self.session.alive or self._synced_code_changed(algorithm_name)
            ):
                self.session.close()
                self.session = None
            if self.session is None:
                self.dev_mode, self.dev_revision = False, None
                if debug:
                    from algorithms import debug as debugging

                    self.session = debugging.open_session(algorithm_name, self.worker_id)
                else:
                    extra = stream_task.session_env() if stream else None
                    self.session, self.dev_mode, self.dev_revision = _spawn(
                        algorithm_name, version, self.worker_id, extra
                    )
                self.session_key = key
            return self.session

    def prewarm(self, algorithm_name: str, version: str) -> None:
        """Start the algorithm's process ahead of the first task, unless a session exists:
        a task may have started first (a stream task's session is of another kind, and
        replacing it would end that task's algorithm)."""
        with self.lock:
            if self.session is not None:
                return
            self.session_for(algorithm_name, version)

    def _synced_code_changed(self, algorithm_name: str) -> bool:
        """A dev-mode session restarts when `hkubectl sync` uploaded new code since it
        started: the next task runs the edit (one small file read per chunk)."""
        return self.dev_mode and dev_sources.revision(algorithm_name) != self.dev_revision

    def _session_of(self, spec: TaskSpec) -> AlgorithmSession:
        name, version = spec["algorithmName"], spec.get("algorithmVersion", "")
        return self.session_for(name, version, bool(spec.get("debug")), taskspec.is_stream(spec))

    # --- chunks ----------------------------------------------------------------------------
    def run_chunk(self, spec: TaskSpec, indices: list[int], already_done: set[int]) -> list[TaskRecord]:
        """Run the items of one chunk; returns one record per item (for the Task rows)."""
        job_id = spec["jobId"]
        plan = spec["plan"]
        records: list[TaskRecord] = []
        self.busy, self.current_job = True, job_id
        try:
            session: AlgorithmSession | None = None
            for index in indices:
                batch_index = taskspec.batch_index(spec, index)
                if batch_index in already_done:
                    continue
                if job_id in self.stopped_jobs:
                    records.append(record(spec, batch_index, "stopped", self.worker_id, error="job stopped"))
                    continue
                if session is None:
                    try:
                        session = self._session_of(spec)
                    except AlgorithmUnavailable as exc:
                        records.append(record(spec, batch_index, "failed", self.worker_id, error=str(exc)))
                        continue
                records.append(self._run_item(session, spec, plan, index, batch_index))
                if records[-1]["status"] == "crashed" or not session.alive:
                    session = None  # respawned on the next item
        finally:
            self.busy, self.current_job = False, None
            self.last_active = time.time()
        return records

    def _run_item(
        self, session: AlgorithmSession, spec: TaskSpec, plan: Plan, index: int, batch_index: int
    ) -> TaskRecord:
        """Run one item and keep what the algorithm printed meanwhile (see pipelines/logs.py)."""
        task_log = TaskLog()
        job_id, node = spec["jobId"], spec["nodeName"]
        task_id = ids.task_id(job_id, node, batch_index)
        with tracing.task_span(job_id, node, task_id, batch_index, spec["algorithmName"]) as span:
            try:
                if taskspec.is_stream(spec):
                    outcome = stream_task.run(
                        self,
                        lambda: self._session_of(spec),
                        spec,
                        lambda s: self._payload(s, spec, plan, index, batch_index, task_id),
                        batch_index,
                        task_log,
                    )
                else:
                    outcome = self._attempts(session, spec, plan, index, batch_index, task_log)
            finally:
                task_log.save(self.storage, spec["cluster"], job_id, task_id, node, batch_index)
            if outcome["status"] != "succeed":
                tracing.fail(span, outcome["error"] or outcome["status"])
            return outcome

    def _attempts(
        self,
        session: AlgorithmSession,
        spec: TaskSpec,
        plan: Plan,
        index: int,
        batch_index: int,
        task_log: TaskLog,
    ) -> TaskRecord:
        job_id, node = spec["jobId"], spec["nodeName"]
        task_id = ids.task_id(job_id, node, batch_index)
        started = int(time.time() * 1000)
        retry = retry_of(spec.get("retry"))
        attempt = 0
        while True:
            attempt += 1
            try:
                payload = self._payload(session, spec, plan, index, batch_index, task_id)
            except Exception as exc:  # noqa: BLE001 - a bad reference fails this item only
                return record(
                    spec, batch_index, "failed", self.worker_id, error=f"input: {exc}", start=started
                )
            ttl = float(spec.get("ttl") or 0) or None
            task_log.add(session.drain_log_records(), idle=True)  # printed while no task ran
            if attempt > 1:
                task_log.note(f"attempt {attempt}")
            run = session.run  # run_task, or run_attached for a debug client (runtime/attach.py)
            with (
                code_api.TaskCodeApi(session, payload) as api,  # its exit stops leftover sub-pipelines
                tracing.child_span(f"algorithm {spec['algorithmName']}", {"hkube.job_id": job_id}) as span,
            ):
                spans = tracing.AlgorithmSpans(span, job_id)
                on_event = task_events(spec, batch_index, api.on_event, spans)
                outcome = api.ended(run(payload, on_event=on_event, timeout=ttl))
                spans.close()
                if outcome.status != "done":
                    tracing.fail(span, (outcome.error or {}).get("message") or outcome.status)
            task_log.add(session.drain_log_records())
            offered = payload.get(file_values.FIELD)
            if outcome.status == "done":
                try:
                    result = self._store(session, spec, task_id, outcome, offered)
                except Exception as exc:  # noqa: BLE001 - storing failed: the task failed
                    return record(spec, batch_index, "failed", self.worker_id, error=f"storing: {exc}")
                finally:
                    file_values.discard(offered)  # a spill file not renamed into place
                return record(
                    spec,
                    batch_index,
                    "succeed",
                    self.worker_id,
                    result=result,
                    start=started,
                    attempt=attempt,
                )
            file_values.discard(offered)  # failed, stopped or crashed: no object from it
            if outcome.status == "stopped":
                return record(
                    spec, batch_index, "stopped", self.worker_id, error="job stopped", start=started
                )
            if outcome.status == "timeout":
                return record(
                    spec, batch_index, "failed", self.worker_id, error="Algorithm TTL expired", start=started
                )
            message = (outcome.error or {}).get("message") or outcome.status
            crashed = outcome.status == "crashed"
            retryable = retry.retries(crashed=crashed)
            if retryable and attempt <= retry.limit:
                log.warning(
                    "job %s node %s item %s: %s, attempt %d/%d",
                    job_id,
                    node,
                    batch_index,
                    message,
                    attempt,
                    retry.limit,
                )
                if crashed or not session.alive:
                    session = self._session_of(spec)
                continue
            if crashed:
                error = (
                    f"node {node} is in CrashLoopBackOff, attempts: {attempt - 1}/{retry.limit}: {message}"
                    if retryable
                    else f"algorithm crashed (retry policy {retry.policy}): {message}"
                )
                return record(
                    spec, batch_index, "crashed", self.worker_id, error=error, start=started, attempt=attempt
                )
            return record(
                spec, batch_index, "failed", self.worker_id, error=message, start=started, attempt=attempt
            )

    def _payload(
        self,
        session: AlgorithmSession,
        spec: TaskSpec,
        plan: Plan,
        index: int,
        batch_index: int,
        task_id: str,
    ) -> dict[str, Any]:
        # A batch plan is addressed by position, a wait-any plan by the parent's batchIndex.
        if spec["mode"] == "any":
            # `missing`: the `*@` parents whose item batch_index failed (their input is null).
            missing = taskspec.missing_parents(spec, batch_index)
            raw_input, storage_map = planning.expand_item(plan, batch_index, missing=missing)
        else:
            # A stream node's replicas (batchIndex 1..n) all get the node's one input.
            raw_input, storage_map = planning.expand_item(plan, 0 if taskspec.is_stream(spec) else index)
        payload: dict[str, Any] = {
            "jobId": spec["jobId"],
            "taskId": task_id,
            "nodeName": spec["nodeName"],
            "algorithmName": spec["algorithmName"],
            "pipelineName": spec["pipelineName"],
            "batchIndex": batch_index,
            "priority": spec.get("priority", 3),
            "kind": spec.get("kind", "batch"),
            "parents": spec.get("parents", []),
            "childs": spec.get("childs", []),
            "retry": spec.get("retry"),
            "ttl": spec.get("ttl", 0),
            "info": spec.get("info", {}),
            "spanId": None,
        }
        if taskspec.is_stream(spec):
            payload["stateType"] = spec.get("stateType")
            payload["parsedFlow"] = spec.get("parsedFlow") or {}
            payload["defaultFlow"] = spec.get("defaultFlow")
        if session.storage_mode == "v3":
            # The wrapper reads storage itself: send links and the flat index of $$ keys.
            payload["input"] = raw_input
            payload["storage"] = storage_map
            payload["flatInput"] = references.flatten_dotted(raw_input) if storage_map else {}
        elif self.files is not None and session.file_values and not session.attach:
            # Our wrapper reads big inputs and writes a big result as files itself.
            payload["input"], inputs = file_values.split_inputs(
                raw_input, storage_map, self.cache, self.files, self.file_threshold
            )
            payload["storage"] = {}
            task_path = paths.task_output(spec["cluster"], spec["jobId"], task_id)
            payload[file_values.FIELD] = file_values.offer(
                self.files, self.storage, task_path, self.file_threshold, inputs
            )
        else:
            payload["input"] = planning.resolve_input(raw_input, storage_map, self.cache.read)
            payload["storage"] = {}
        return payload

    def store_outcome(
        self, session: AlgorithmSession, spec: TaskSpec, task_id: str, outcome: TaskOutcome
    ) -> dict[str, Any]:
        """Store a task's output (a stream task's stateful node whose start returned)."""
        return self._store(session, spec, task_id, outcome)

    def _store(
        self,
        session: AlgorithmSession,
        spec: TaskSpec,
        task_id: str,
        outcome: TaskOutcome,
        offered: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if session.storage_mode == "v3" and outcome.storing:
            return dict(outcome.storing)
        path = paths.task_output(spec["cluster"], spec["jobId"], task_id)
        if self.files is not None and offered and file_values.spilled(offered, outcome.storing):
            assert outcome.storing is not None
            return file_values.adopt(self.files, offered, outcome.storing, path)
        value = outcome.result
        size = self.storage.put(path, value)
        save_paths = (spec.get("info") or {}).get("savePaths") or []
        metadata = planning.output_metadata(spec["nodeName"], value, save_paths) if save_paths else {}
        return {"storageInfo": {"path": path, "size": size}, "metadata": metadata}


def _spawn(
    algorithm_name: str, version: str, worker_id: str, extra_env: dict[str, str] | None = None
) -> tuple[AlgorithmSession, bool, str | None]:
    """Start the algorithm process of one version (Django is loaded in the worker): the
    session, whether the version is in dev mode, and the synced revision it runs."""
    from django.conf import settings

    from algorithms.models import Algorithm, AlgorithmVersion

    if not version:
        algorithm = Algorithm.objects.filter(name=algorithm_name).first()
        version = algorithm.version if algorithm else ""
    found = AlgorithmVersion.objects.filter(algorithm_name=algorithm_name, version=version).first()
    if found is None:
        raise AlgorithmUnavailable(
            f"algorithm {algorithm_name} has no built version to run (is its build finished?)"
        )
    if not found.code_path:
        raise AlgorithmUnavailable(
            f"algorithm {algorithm_name} has no code to run on this machine: image-only algorithms "
            "need the Kubernetes launcher; apply it with code "
            "(hkubectl algorithm apply --f FILE, with code.path in FILE)"
        )
    descriptor = found.descriptor
    # Dev mode runs the code `hkubectl sync` uploaded last (in the version's environment);
    # with nothing synced yet, the version's own code.
    dev_mode = bool((descriptor.get("options") or {}).get("devMode"))
    revision = dev_sources.revision(algorithm_name) if dev_mode else None
    code_dir = dev_sources.folder(algorithm_name, revision) if revision else None
    code_dir = code_dir or Path(found.code_path)
    env_name = descriptor.get("env", "python")
    env_dir = Path(found.env_path) if found.env_path else None
    try:
        launcher = languages.launcher(env_name, env_dir)
    except languages.UnsupportedEnv as exc:
        raise AlgorithmUnavailable(
            f"algorithm {algorithm_name}: env {env_name} cannot run on this machine"
        ) from exc
    launch = launcher.launch(
        Version(
            code_dir=code_dir,
            env_dir=Path(found.env_path),
            descriptor=descriptor,
            metrics_dir=Path(settings.HKUBE_HOME) / "metrics" / algorithm_name / worker_id,
            site=StorageSite(
                cluster=str(settings.HKUBE_CLUSTER_NAME),
                storage=str(settings.HKUBE_STORAGE),
                storage_dir=Path(settings.HKUBE_STORAGE_DIR),
                storage_encoding=str(settings.HKUBE_STORAGE_ENCODING),
                s3=settings.HKUBE_S3,
            ),
        )
    )
    command, variables, cwd = launch.command, launch.env, launch.cwd or code_dir
    if revision:
        variables = dev_sources.with_built_modules(variables, Path(found.code_path))
        if launcher is HKUBE_WRAPPER:
            log.warning("dev mode: %s runs HKube's python wrapper on its built code", algorithm_name)
    env = {
        # Uploaded code never sees the worker's secrets: an allow-list of its environment.
        **runtime_env(extra=settings.HKUBE_ALGORITHM_ENV_ALLOW),
        **variables,
        **{
            str(k): str(v)
            for k, v in (descriptor.get("algorithmEnv") or {}).items()
            if not isinstance(v, dict)
        },
        **(extra_env or {}),
        "ALGORITHM_TYPE": algorithm_name,
        "ALGORITHM_VERSION": version,
        "HOSTNAME": socket.gethostname(),
    }
    session = AlgorithmSession(command, env=env, cwd=str(cwd), inherit_env=False)
    try:
        session.start()
    except Exception as exc:
        raise AlgorithmUnavailable(f"algorithm {algorithm_name} did not start: {exc}") from exc
    limits.watch_memory(session, descriptor)  # HKube's pod memory limit (OOMKilled)
    return session, dev_mode, revision
