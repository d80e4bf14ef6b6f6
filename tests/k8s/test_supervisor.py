"""The supervisor loop against a fake API server, with the real `kubernetes` client: list then
watch by label, outcomes applied once, adoption and orphans, a dropped watch, a 410 forcing
a relist, a periodic resync, the heartbeat and the lock. The sink records what it is told."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from k8s.outcomes import Kind, Outcome, WorkerPod
from k8s.supervisor import Supervisor, SupervisorSettings, settings_from_env

from .fakeapi import FakeApi

NS = "hkube"
SELECTOR = "app.kubernetes.io/managed-by=hkube"  # not part of what it watches: only release + component


class RecordingSink:
    def __init__(self, known: set[str] | None = None, algorithms: set[str] | None = None) -> None:
        self.known = known or set()
        self.algorithms = algorithms if algorithms is not None else {"green-alg"}
        self.calls: list[tuple[str, Any]] = []
        self.reasons: dict[str, tuple[str, float]] = {}
        self.fail_crash = 0

    def known_workers(self) -> set[str]:
        return set(self.known)

    def algorithm_exists(self, name: str) -> bool:
        return name in self.algorithms

    def adopt(self, worker: WorkerPod) -> None:
        self.calls.append(("adopt", worker.worker_id))

    def image_pull_failed(self, worker: WorkerPod, message: str) -> None:
        self.calls.append(("image", (worker.worker_id, worker.version, message)))

    def crashed(self, worker: WorkerPod, outcome: Outcome) -> None:
        if self.fail_crash:
            self.fail_crash -= 1
            raise RuntimeError("executor busy")
        self.calls.append(("crash", (worker.worker_id, outcome.kind, outcome.message)))

    def unscheduled(self, reasons: dict[str, tuple[str, float]]) -> None:
        self.reasons = dict(reasons)

    def periodic(self) -> None:
        pass

    def of(self, kind: str) -> list[Any]:
        return [value for name, value in self.calls if name == kind]


def labels(worker_id: str, algorithm: str = "green-alg", release: str = "hk") -> dict[str, str]:
    return {"hkube.io/release": release, "hkube.io/component": "worker", "hkube.io/algorithm": algorithm,
            "hkube.io/worker-id": worker_id, "job-name": worker_id}  # fmt: skip


def worker_container(worker_id: str) -> dict[str, Any]:
    return {"name": "worker", "env": [{"name": "HKUBE_WORKER_ID", "value": worker_id}]}


def job(worker_id: str, algorithm: str = "green-alg", **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": worker_id, "labels": labels(worker_id, algorithm),
                         "annotations": {"hkube.io/algorithm-version": "v1"}},
            "spec": {"template": {"spec": {"containers": [worker_container(worker_id)]}}},
            "status": status}  # fmt: skip


def pod(worker_id: str, phase: str = "Running", containers: list[dict[str, Any]] | None = None,
        **status: Any) -> dict[str, Any]:  # fmt: skip
    return {"metadata": {"name": f"{worker_id}-pod", "labels": labels(worker_id),
                         "annotations": {"hkube.io/algorithm-version": "v1"},
                         "ownerReferences": [{"kind": "Job", "name": worker_id}]},
            "spec": {"containers": [worker_container(worker_id)]},
            "status": {"phase": phase, "containerStatuses": containers or [], **status}}  # fmt: skip


def waiting(name: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"name": name, "state": {"waiting": {"reason": reason, "message": message}}}


def oom() -> list[dict[str, Any]]:
    return [{"name": "algorunner", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]


def eventually(check: Callable[[], Any], timeout: float = 8.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


class Running:
    def __init__(self, api: FakeApi, sink: RecordingSink, tmp_path: Path, **overrides: Any) -> None:
        options = {"release": "hk", "watch_seconds": 30, "resync_seconds": 60.0, "pass_seconds": 0.1,
                   "retry_seconds": 0.1, "heartbeat_file": str(tmp_path / "beat")} | overrides  # fmt: skip
        self.supervisor = Supervisor(api.kube(namespace=NS), sink, SupervisorSettings(**options))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.supervisor.run, args=(self.stop,), daemon=True)

    def lists(self, kind: str) -> int:
        return next(w.lists for w in self.supervisor.watchers if w.kind == kind)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi() as server:
        yield server


@pytest.fixture
def start(api: FakeApi, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def run(sink: RecordingSink, **overrides: Any) -> Running:
        running = Running(api, sink, tmp_path, **overrides)
        running.thread.start()
        started.append(running)
        eventually(lambda: running.supervisor.adopted)
        return running

    yield run
    for running in started:
        running.stop.set()
        api.drop_watches()
        running.thread.join(timeout=10)
        assert not running.thread.is_alive()


def test_it_lists_then_watches_pods_and_jobs_of_its_release_only(
    api: FakeApi, start: Callable[..., Running]
) -> None:
    start(RecordingSink())
    selector = "hkube.io/component=worker,hkube.io/release=hk"
    for path in (f"/api/v1/namespaces/{NS}/pods", f"/apis/batch/v1/namespaces/{NS}/jobs"):
        calls = eventually(lambda path=path: [c for c in api.calls("GET", path) if c.query.get("watch")])
        listed = [c for c in api.calls("GET", path) if not c.query.get("watch")]
        assert listed and listed[0].label_selector == selector
        assert calls[0].label_selector == selector
        assert calls[0].query["resourceVersion"]  # resumes from the list, not from scratch


def test_it_adopts_unknown_running_jobs_and_deletes_orphans(
    api: FakeApi, start: Callable[..., Running]
) -> None:
    api.put("jobs", job("green-alg-aaaaa"), NS)  # unknown, algorithm exists: adopted
    api.put("jobs", job("green-alg-bbbbb"), NS)  # known to the registry
    api.put("jobs", job("gone-alg-ccccc", "gone-alg"), NS)  # unknown, algorithm deleted: orphan
    api.put("jobs", job("green-alg-ddddd", succeeded=1), NS)  # finished: its TTL removes it
    other = job("green-alg-eeeee")
    other["metadata"]["labels"]["hkube.io/release"] = "another"
    api.put("jobs", other, NS)
    sink = RecordingSink(known={"green-alg-bbbbb"})
    start(sink)
    assert sink.of("adopt") == ["green-alg-aaaaa"]
    deletes = eventually(lambda: api.calls("DELETE", "/jobs/gone-alg-ccccc"))
    assert deletes[0].query["propagationPolicy"] == "Background"
    assert [c.path for c in api.calls("DELETE")] == [f"/apis/batch/v1/namespaces/{NS}/jobs/gone-alg-ccccc"]
    assert api.get("jobs", "green-alg-aaaaa", NS) is not None


def test_an_image_pull_failure_is_reported_once_and_its_job_deleted(
    api: FakeApi, start: Callable[..., Running]
) -> None:
    api.put("jobs", job("green-alg-aaaaa"), NS)
    api.put("pods", pod("green-alg-aaaaa", "Pending"), NS)
    sink = RecordingSink(known={"green-alg-aaaaa"})
    start(sink)
    pulling = pod("green-alg-aaaaa", "Pending", [waiting("algorunner", "ErrImagePull", "not found")])
    api.put("pods", pulling, NS)
    reported = eventually(lambda: sink.of("image"))
    message = "Container - algorunner: not found. please check that your image exists and valid"
    assert reported == [("green-alg-aaaaa", "v1", message)]
    eventually(lambda: api.calls("DELETE", "/jobs/green-alg-aaaaa"))
    assert api.get("pods", "green-alg-aaaaa-pod", NS) is None  # the Job's pods went with it
    time.sleep(0.5)  # the pod's DELETED event repeats nothing
    assert len(sink.of("image")) == 1


def test_an_oom_kill_is_a_crash_applied_once_even_when_applying_failed_first(
    api: FakeApi, start: Callable[..., Running]
) -> None:
    api.put("jobs", job("green-alg-aaaaa"), NS)
    api.put("pods", pod("green-alg-aaaaa"), NS)
    sink = RecordingSink(known={"green-alg-aaaaa"})
    sink.fail_crash = 1  # the executor held its lock: the next pass tries again
    start(sink)
    api.put("pods", pod("green-alg-aaaaa", "Failed", oom()), NS)
    crashes = eventually(lambda: sink.of("crash"))
    assert crashes == [("green-alg-aaaaa", Kind.OOM, "container algorunner was OOMKilled")]
    api.remove("pods", "green-alg-aaaaa-pod", NS)  # its TTL: the DELETED event repeats nothing
    time.sleep(0.5)
    assert len(sink.of("crash")) == 1
    assert not api.calls("DELETE")  # a failed pod's Job is left to its TTL (its logs stay readable)


def test_an_unschedulable_pod_reports_the_schedulers_words_until_it_is_placed(
    api: FakeApi, start: Callable[..., Running]
) -> None:
    sink = RecordingSink(known={"green-alg-aaaaa"})
    start(sink)
    refused = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
               "message": "0/2 nodes are available.",
               "lastTransitionTime": "2026-12-06T20:00:00Z"}  # fmt: skip
    api.put("events", {"metadata": {"name": "e1"}, "involvedObject": {"name": "green-alg-aaaaa-pod"},
                       "reason": "FailedScheduling",
                       "message": "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."}, NS)  # fmt: skip
    api.put("events", {"metadata": {"name": "e2"}, "involvedObject": {"name": "other-pod"},
                       "reason": "FailedScheduling", "message": "not this one"}, NS)  # fmt: skip
    api.put("pods", pod("green-alg-aaaaa", "Pending", conditions=[refused]), NS)
    eventually(lambda: sink.reasons)
    message, since = sink.reasons["green-alg"]
    assert message == "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    assert since == 1796587200.0  # when the scheduler first refused it
    scheduled = {"type": "PodScheduled", "status": "True"}
    api.put("pods", pod("green-alg-aaaaa", "Running", conditions=[scheduled]), NS)
    eventually(lambda: not sink.reasons)


def test_a_pod_deleted_under_a_running_worker_is_a_crash(api: FakeApi, start: Callable[..., Running]) -> None:
    api.put("pods", pod("green-alg-aaaaa"), NS)
    sink = RecordingSink(known={"green-alg-aaaaa"})
    start(sink)
    api.remove("pods", "green-alg-aaaaa-pod", NS)
    crashes = eventually(lambda: sink.of("crash"))
    assert crashes[0][:2] == ("green-alg-aaaaa", Kind.CRASH)
    assert "was deleted" in crashes[0][2]


def _lose_silently(api: FakeApi, name: str) -> None:
    """The pod goes while no watch is open: its DELETED event is never sent."""
    with api._lock:
        api.drop_watches()
        del api.objects[("pods", NS)][name]


def test_a_dropped_watch_resumes_and_still_sees_changes(api: FakeApi, start: Callable[..., Running]) -> None:
    api.put("pods", pod("green-alg-aaaaa"), NS)
    sink = RecordingSink(known={"green-alg-aaaaa"})
    running = start(sink)
    lists = running.lists("pods")
    watches = len([c for c in api.calls("GET", "/pods") if c.query.get("watch")])
    api.drop_watches()
    eventually(lambda: len([c for c in api.calls("GET", "/pods") if c.query.get("watch")]) > watches)
    api.put("pods", pod("green-alg-aaaaa", "Failed", oom()), NS)
    eventually(lambda: sink.of("crash"))
    assert running.lists("pods") == lists  # resumed from its resourceVersion, no relist


def test_a_410_forces_a_relist_which_finds_what_the_watch_missed(
    api: FakeApi, start: Callable[..., Running]
) -> None:
    api.put("pods", pod("green-alg-aaaaa"), NS)
    sink = RecordingSink(known={"green-alg-aaaaa"})
    running = start(sink)
    lists = running.lists("pods")
    api.fail("GET", f"/namespaces/{NS}/pods", 410, reason="Expired", message="too old resource version")
    _lose_silently(api, "green-alg-aaaaa-pod")
    eventually(lambda: running.lists("pods") > lists)
    crashes = eventually(lambda: sink.of("crash"))
    assert crashes[0][0] == "green-alg-aaaaa"


def test_an_expired_watch_event_forces_a_relist(api: FakeApi, start: Callable[..., Running]) -> None:
    running = start(RecordingSink())
    lists = running.lists("jobs")
    eventually(lambda: [c for c in api.calls("GET", "/jobs") if c.query.get("watch")])
    api.expire_watches()
    eventually(lambda: running.lists("jobs") > lists)


def test_a_periodic_resync_finds_a_pod_lost_without_an_event(
    api: FakeApi, start: Callable[..., Running]
) -> None:
    api.put("pods", pod("green-alg-aaaaa"), NS)
    sink = RecordingSink(known={"green-alg-aaaaa"})
    running = start(sink, resync_seconds=1.0, watch_seconds=1)
    lists = running.lists("pods")
    _lose_silently(api, "green-alg-aaaaa-pod")
    crashes = eventually(lambda: sink.of("crash"))
    assert crashes[0][0] == "green-alg-aaaaa"
    assert running.lists("pods") > lists


def test_each_pass_touches_the_heartbeat(start: Callable[..., Running], tmp_path: Path) -> None:
    running = start(RecordingSink())
    beat = tmp_path / "beat"
    first = eventually(lambda: beat.exists() and beat.stat().st_mtime_ns)
    passes = running.supervisor.passes
    eventually(lambda: running.supervisor.passes > passes + 2)
    assert beat.stat().st_mtime_ns >= first


def test_it_stops_when_its_lock_is_lost(api: FakeApi, tmp_path: Path) -> None:
    class Lost:
        def renew(self) -> bool:
            return False

    settings = SupervisorSettings(release="hk", pass_seconds=0.1)
    supervisor = Supervisor(api.kube(namespace=NS), RecordingSink(), settings, guard=Lost())
    thread = threading.Thread(target=supervisor.run, args=(threading.Event(),), daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_settings_come_from_the_environment_and_bad_values_are_named() -> None:
    settings = settings_from_env({"HKUBE_K8S_RELEASE": "hk", "HKUBE_SUPERVISOR_HEARTBEAT_FILE": "/tmp/b",
                                  "HKUBE_SUPERVISOR_RESYNC_SECONDS": "30"})  # fmt: skip
    assert (settings.release, settings.heartbeat_file, settings.resync_seconds) == ("hk", "/tmp/b", 30.0)
    with pytest.raises(ValueError, match="HKUBE_K8S_RELEASE"):
        settings_from_env({})
    with pytest.raises(ValueError, match="HKUBE_SUPERVISOR_RESYNC_SECONDS"):
        settings_from_env({"HKUBE_K8S_RELEASE": "hk", "HKUBE_SUPERVISOR_RESYNC_SECONDS": "soon"})


def test_a_list_is_read_page_by_page(
    api: FakeApi, start: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("green-alg-aaaaa", "green-alg-bbbbb"):
        api.put("jobs", job(name), NS)
    serve = api._serve

    def paged(method: str, route: Any, query: dict[str, str], body: Any) -> Any:
        status, payload, headers = serve(method, route, query, body)
        if route.plural == "jobs" and method == "GET" and route.name is None:
            first = "continue" not in query
            payload["items"] = payload["items"][:1] if first else payload["items"][1:]
            if first:
                payload["metadata"]["continue"] = "page-2"
        return status, payload, headers

    monkeypatch.setattr(api, "_serve", paged)
    sink = RecordingSink()
    start(sink)
    assert sorted(sink.of("adopt")) == ["green-alg-aaaaa", "green-alg-bbbbb"]
    pages = [c.query for c in api.calls("GET", "/jobs") if not c.query.get("watch")][:2]
    assert pages[0]["limit"] == "500" and "continue" not in pages[0]
    assert pages[1]["continue"] == "page-2"
