"""The supervisor: watch this release's worker pods and Jobs and report what they mean.

Two watcher threads (pods, Jobs) each list, then watch from the list's resourceVersion,
and feed one queue; the loop applies their events to a cache and, after each batch of
events (at least every `pass_seconds`), classifies every cached pod (`outcomes.classify`)
and hands the results to a `Sink` (the Django side: `algorithms/k8s_outcomes.py`). A
watch that ends (the server's `timeoutSeconds`, a dropped connection, a read timeout)
resumes from the last resourceVersion seen; a 410 Gone, or `resync_seconds` since the last
list, relists, and a pod that vanished between two lists counts as deleted (its DELETED
event may have been lost with the connection).

Final outcomes (image pull failure, OOM, crash) are applied once per pod; the unscheduled
reasons are state, handed over whole on every pass. On its first complete view the
supervisor adopts the running worker Jobs the registry does not know and deletes orphans
(unknown worker, algorithm gone). Plain Python: the configured client and the sink are
passed in; the loop touches a heartbeat file each pass and stops when its lock is lost.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import urllib3
from kubernetes.watch.watch import iter_resp_lines

from k8s import heartbeat, naming
from k8s.client import Kube, KubeError, call
from k8s.outcomes import Kind, Outcome, WorkerPod, classify, identity, parse_time

log = logging.getLogger(__name__)

PODS, JOBS = "pods", "jobs"
LIST_PAGE = 500
Obj = dict[str, Any]


class Sink(Protocol):
    """Where outcomes go (implemented by `algorithms.k8s_outcomes.ClusterOutcomes`)."""

    def known_workers(self) -> set[str]: ...
    def algorithm_exists(self, name: str) -> bool: ...
    def adopt(self, worker: WorkerPod) -> None: ...
    def image_pull_failed(self, worker: WorkerPod, message: str) -> None: ...
    def crashed(self, worker: WorkerPod, outcome: Outcome) -> None: ...
    def unscheduled(self, reasons: dict[str, tuple[str, float]]) -> None: ...
    def periodic(self) -> None: ...


class Guard(Protocol):
    """The single-instance lock: `renew()` is False once another instance holds it."""

    def renew(self) -> bool: ...


@dataclass(frozen=True)
class SupervisorSettings:
    release: str
    watch_seconds: int = 300  # the server ends each watch after this (`timeoutSeconds`)
    resync_seconds: float = 60.0  # a full relist at least this often
    pass_seconds: float = 1.0  # the longest wait between two passes
    retry_seconds: float = 1.0  # after a failed list or watch
    heartbeat_file: str | None = None

    @property
    def selector(self) -> str:
        labels = {naming.RELEASE: naming.label_value(self.release), naming.COMPONENT: naming.WORKER}
        return naming.selector(labels)


class Watcher(threading.Thread):
    """List then watch one resource, forever, into `out`: ("sync", kind, objects) after each
    list, ("event", kind, type, object) for each change."""

    def __init__(
        self,
        kind: str,
        lister: Callable[..., Any],
        kube: Kube,
        settings: SupervisorSettings,
        out: queue.Queue[tuple[Any, ...]],
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"k8s-watch-{kind}", daemon=True)
        self.kind, self.lister, self.kube = kind, lister, kube
        self.settings, self.out, self.stop = settings, out, stop
        self.lists = 0  # how many lists it made (tests read it)

    def run(self) -> None:
        version: str | None = None
        listed_at = 0.0
        while not self.stop.is_set():
            try:
                if version is None or time.monotonic() - listed_at >= self.settings.resync_seconds:
                    version = self._list()
                    listed_at = time.monotonic()
                version = self._watch(version)
            except KubeError as exc:
                if self.stop.is_set():
                    return
                if exc.status == 410:
                    version = None  # Gone: the version is too old to resume from; list again
                else:  # resume from the same version (a 410 then, if it expired meanwhile)
                    log.warning("supervisor: %s watch failed: %s", self.kind, exc.message)
                    self.stop.wait(self.settings.retry_seconds)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if self.stop.is_set():
                    return
                # The connection dropped or hung: resume from the last version (a 410 then relists).
                log.info("supervisor: %s watch interrupted (%s); resuming", self.kind, exc)
                self.stop.wait(self.settings.retry_seconds)
            except Exception:
                if self.stop.is_set():
                    return
                log.exception("supervisor: %s watch failed", self.kind)
                self.stop.wait(self.settings.retry_seconds)
                version = None

    def _list(self) -> str:
        """All objects, in pages (a page's `continue` token keeps one consistent snapshot)."""
        items: list[Obj] = []
        token: str | None = None
        while True:
            page = {"_continue": token} if token else {}
            response = call(self.lister, self.kube.namespace, label_selector=self.settings.selector,
                            limit=LIST_PAGE, _preload_content=False,
                            _request_timeout=self.kube.request_timeout, **page)  # fmt: skip
            body = json.loads(response.data)
            items += body.get("items") or []
            meta = body.get("metadata") or {}
            token = meta.get("continue") or None
            if token is None:
                break
        self.lists += 1
        self.out.put(("sync", self.kind, items))
        return str(meta.get("resourceVersion") or "")

    def _watch(self, version: str) -> str | None:
        """Follow changes from `version`; returns the last version seen when the stream ends
        (None: list again). A 410 raises a KubeError with status 410."""
        for event in self._stream(version):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                code = int(obj.get("code") or 0)
                if code == 410:
                    raise KubeError(str(obj.get("message") or "Gone"), status=410, reason="Expired")
                log.warning("supervisor: %s watch error %s: %s", self.kind, code, obj.get("message"))
                return None
            version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self.out.put(("event", self.kind, kind, obj))
        return version

    def _stream(self, version: str) -> Iterator[Obj]:
        response = call(
            self.lister, self.kube.namespace, label_selector=self.settings.selector, watch=True,
            resource_version=version, timeout_seconds=self.settings.watch_seconds,
            allow_watch_bookmarks=True, _preload_content=False,
            # The server ends the watch after watch_seconds; a read that outlasts it is a hung connection.
            _request_timeout=(self.kube.request_timeout[0], self.settings.watch_seconds + 5.0),
        )  # fmt: skip
        try:
            for line in iter_resp_lines(response):
                if self.stop.is_set():
                    return
                yield json.loads(line)
        finally:
            response.release_conn()


class Supervisor:
    def __init__(
        self, kube: Kube, sink: Sink, settings: SupervisorSettings, guard: Guard | None = None
    ) -> None:
        self.kube, self.sink, self.settings, self.guard = kube, sink, settings, guard
        self.pods: dict[str, Obj] = {}  # by pod name
        self.jobs: dict[str, Obj] = {}  # by Job name
        self.handled: dict[str, Kind] = {}  # pod uid -> the final outcome applied
        self.synced: set[str] = set()
        self.adopted = False
        self.passes = 0
        self._events: dict[str, tuple[str, list[Obj]]] = {}  # pod uid -> (resourceVersion, its Events)
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._unscheduled: dict[str, tuple[str, float]] | None = None  # as last written
        self._unscheduled_at = 0.0
        self.watchers: list[Watcher] = []

    def run(self, stop: threading.Event) -> None:
        """Watch and apply until `stop` is set or the lock is lost."""
        inner = threading.Event()
        self.watchers = [
            Watcher(PODS, self.kube.core.list_namespaced_pod, self.kube, self.settings, self._queue, inner),
            Watcher(JOBS, self.kube.batch.list_namespaced_job, self.kube, self.settings, self._queue, inner),
        ]
        for watcher in self.watchers:
            watcher.start()
        try:
            while not stop.is_set():
                if self.guard is not None and not self.guard.renew():
                    log.warning("supervisor: lost the lock to another instance; stopping")
                    return
                self.drain(self.settings.pass_seconds)
                self.step()
        finally:
            # The watcher threads (daemons) end at their next line or when their watch times out;
            # closing a response another thread reads blocks on the reader's lock.
            inner.set()

    def drain(self, wait: float) -> None:
        """Apply queued watcher output: wait up to `wait` for the first, take all that is there."""
        try:
            item = self._queue.get(timeout=wait)
        except queue.Empty:
            return
        while True:
            self._apply(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return

    def step(self) -> None:
        """One pass: adopt (once both resources were listed), classify, housekeeping, heartbeat."""
        if self.synced >= {PODS, JOBS}:
            if not self.adopted:
                self.adopt_and_sweep()
                self.adopted = True
            self.run_pass()
        try:
            self.sink.periodic()
        except Exception:
            log.exception("supervisor: periodic work failed")
        self.passes += 1
        if self.settings.heartbeat_file:
            heartbeat.touch(self.settings.heartbeat_file)

    # --- the cache -----------------------------------------------------------------------------

    def _apply(self, item: tuple[Any, ...]) -> None:
        if item[0] == "sync":
            _, kind, items = item
            fresh = {_name(obj): obj for obj in items}
            if kind == PODS:
                for name, pod in self.pods.items():
                    if name not in fresh:  # its DELETED event was lost with a dropped watch
                        self._final(pod, deleted=True)
                live = {_uid(p) for p in fresh.values()}
                self.handled = {uid: k for uid, k in self.handled.items() if uid in live}
                self._events = {uid: e for uid, e in self._events.items() if uid in live}
                self.pods = fresh
            else:
                self.jobs = fresh
            self.synced.add(kind)
            return
        _, kind, change, obj = item
        cache = self.pods if kind == PODS else self.jobs
        if change == "DELETED":
            cache.pop(_name(obj), None)
            if kind == PODS:
                self._final(obj, deleted=True)
                self.handled.pop(_uid(obj), None)
                self._events.pop(_uid(obj), None)
        else:
            cache[_name(obj)] = obj

    # --- passes ----------------------------------------------------------------------------------

    def run_pass(self) -> None:
        unscheduled: dict[str, tuple[str, float]] = {}
        for pod in list(self.pods.values()):
            outcome = classify(pod)
            if outcome.kind == Kind.UNSCHEDULABLE:
                outcome = classify(pod, self._pod_events(pod))
                algorithm = identity(pod).algorithm
                created = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
                since = outcome.since or created or time.time()
                if algorithm and (algorithm not in unscheduled or since < unscheduled[algorithm][1]):
                    unscheduled[algorithm] = (outcome.message, since)
            elif outcome.kind.final:
                self._final(pod, outcome=outcome)
        if (
            unscheduled == self._unscheduled
            and time.monotonic() - self._unscheduled_at < self.settings.resync_seconds
        ):
            return  # unchanged: written again only once per resync (in case Redis lost it)
        try:
            self.sink.unscheduled(unscheduled)
            self._unscheduled, self._unscheduled_at = unscheduled, time.monotonic()
        except Exception:
            log.exception("supervisor: could not record unscheduled reasons")

    def _final(self, pod: Obj, *, deleted: bool = False, outcome: Outcome | None = None) -> None:
        """Apply a pod's final outcome once; a failure leaves it for the next pass."""
        outcome = outcome or classify(pod, deleted=deleted)
        uid = _uid(pod)
        if not outcome.kind.final or uid in self.handled:
            return
        worker = identity(pod)
        try:
            if outcome.kind == Kind.IMAGE_PULL:
                log.warning("supervisor: worker %s: %s", worker.worker_id, outcome.message)
                self.sink.image_pull_failed(worker, outcome.message)
                self.delete_job(worker.job)  # else its pod keeps pulling, and holds its room
            elif outcome.kind in (Kind.OOM, Kind.CRASH):
                # A deleted pod is most often the executor's own stop of an idle worker: quieter.
                log.log(logging.INFO if deleted else logging.WARNING, "supervisor: worker %s: %s",
                        worker.worker_id, outcome.message)  # fmt: skip
                self.sink.crashed(worker, outcome)
                if not deleted and (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                    self.delete_job(worker.job)  # stuck (a config error) or already being removed
        except KubeError as exc:
            log.warning("supervisor: pod %s: %s; trying again next pass", worker.name, exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - the next pass tries again (a busy lock, a database blip)
            log.warning("supervisor: pod %s: applying %s failed (%s); trying again next pass", worker.name,
                        outcome.kind, exc)  # fmt: skip
            return
        self.handled[uid] = outcome.kind

    def _pod_events(self, pod: Obj) -> list[Obj]:
        """The pod's Events, read again only when the pod changed (the scheduler rewrites its
        PodScheduled condition on every retry)."""
        uid, version = _uid(pod), str((pod.get("metadata") or {}).get("resourceVersion") or "")
        cached = self._events.get(uid)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            response = call(self.kube.core.list_namespaced_event, self.kube.namespace,
                            field_selector=f"involvedObject.name={_name(pod)}", _preload_content=False,
                            _request_timeout=self.kube.request_timeout)  # fmt: skip
            items: list[Obj] = json.loads(response.data).get("items") or []
            events = [e for e in items if (e.get("involvedObject") or {}).get("name") == _name(pod)]
        except KubeError as exc:
            log.warning("supervisor: events of pod %s: %s", _name(pod), exc.message)
            return []
        self._events[uid] = (version, events)
        return events

    def adopt_and_sweep(self) -> None:
        """Register running worker Jobs the registry does not know (a restart of the executor's
        Redis, or Jobs created just before a crash); delete those whose algorithm is gone."""
        known = self.sink.known_workers()
        for job in list(self.jobs.values()):
            worker = identity(job)
            if _finished(job) or not worker.worker_id or worker.worker_id in known:
                continue
            if self.sink.algorithm_exists(worker.algorithm):
                log.info("supervisor: adopting worker %s of %s", worker.worker_id, worker.algorithm)
                self.sink.adopt(worker)
            else:
                log.info(
                    "supervisor: deleting orphan Job %s (no algorithm %s)", worker.name, worker.algorithm
                )
                try:
                    self.delete_job(worker.name)
                except KubeError as exc:
                    log.warning("supervisor: orphan Job %s: %s", worker.name, exc.message)

    def delete_job(self, name: str) -> None:
        """Delete a Job and (in the background) its pods; one already gone is no error."""
        if not name:
            return
        try:
            call(self.kube.batch.delete_namespaced_job, name, self.kube.namespace,
                 propagation_policy="Background", _request_timeout=self.kube.request_timeout)  # fmt: skip
        except KubeError as exc:
            if not exc.not_found:
                raise


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _uid(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name") or "")


def _finished(job: Mapping[str, Any]) -> bool:
    status = job.get("status") or {}
    if status.get("succeeded") or status.get("failed"):
        return True
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def settings_from_env(env: Mapping[str, str]) -> SupervisorSettings:
    """`HKUBE_K8S_RELEASE` (required), `HKUBE_SUPERVISOR_HEARTBEAT_FILE`,
    `HKUBE_SUPERVISOR_RESYNC_SECONDS`, `HKUBE_SUPERVISOR_WATCH_SECONDS`; a bad value raises
    ValueError naming the variable."""
    release = env.get("HKUBE_K8S_RELEASE", "").strip()
    if not release:
        raise ValueError("HKUBE_K8S_RELEASE must be set for the supervisor (the chart's ConfigMap sets it)")

    def number(name: str, default: float) -> float:
        raw = env.get(name, "").strip()
        try:
            value = float(raw) if raw else default
        except ValueError:
            value = -1.0
        if value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
        return value

    return SupervisorSettings(
        release=release,
        watch_seconds=int(number("HKUBE_SUPERVISOR_WATCH_SECONDS", 300)),
        resync_seconds=number("HKUBE_SUPERVISOR_RESYNC_SECONDS", 60.0),
        heartbeat_file=env.get("HKUBE_SUPERVISOR_HEARTBEAT_FILE") or None,
    )
