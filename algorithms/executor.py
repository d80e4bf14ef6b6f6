"""The executor: decides how many workers each algorithm gets, and asks the launcher.

It runs as a Celery task on the `control` queue, periodically (beat) and on demand. One
tick observes (`scheduling/observe.py`), decides (`scheduling/decide.py`, pure: priorities,
the cpu/mem/gpu budget, GPU devices, hot and idle workers, debug workers) and acts
(`scheduling/act.py`, through the `launcher.Launcher`).

`HKUBE_LAUNCHER=kubernetes` makes workers Jobs (`k8s.launcher`; debug workers stay local): a
tick then also lists the cluster once (`scheduling/cluster.py` folds it in: capacity from the
nodes, pods created but not running counted, a per-algorithm largest node), starts at most
`HKUBE_K8S_MAX_CREATE_PER_PASS` workers, and never assigns GPU devices.
"""

from __future__ import annotations

import json
import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import TypedDict

from django.conf import settings

from algorithms import resources, stream_scaling
from algorithms.launcher import Launcher, LocalLauncher, Routed
from algorithms.models import Algorithm
from algorithms.scheduling import act
from algorithms.scheduling.cluster import with_cluster
from algorithms.scheduling.decide import decide, lost_workers
from algorithms.scheduling.observe import observe, registered_workers
from algorithms.scheduling.snapshot import Config, Snapshot
from hkube_site import redis_client as rc
from k8s.client import KubeError
from k8s.launcher import KubernetesLauncher

log = logging.getLogger(__name__)


class Tick(TypedDict, total=False):
    """What one tick did (or `skipped`: why it did nothing)."""

    started: list[str]
    stopped: list[str]
    workers: int
    cpu: float
    unscheduled: dict[str, str]
    skipped: str


@lru_cache(maxsize=1)
def local_launcher() -> LocalLauncher:
    """Local workers; forked from a warm fork server unless `HKUBE_FORKSERVER` is false (and
    never in Kubernetes mode, where only debug workers are local)."""
    home = Path(settings.HKUBE_HOME)
    forking = bool(settings.HKUBE_FORKSERVER) and not kubernetes_mode()
    fork_dir = home / "run" if forking else None
    return LocalLauncher(home / "logs" / "workers", Path(settings.BASE_DIR), fork_dir)


@lru_cache(maxsize=1)
def launcher() -> Launcher:
    """`HKUBE_LAUNCHER`: local processes, or worker Jobs (debug workers stay local)."""
    if kubernetes_mode():
        from algorithms import kube

        return Routed(kube.launcher(), local_launcher())
    return local_launcher()


def kubernetes_mode() -> bool:
    return str(settings.HKUBE_LAUNCHER) == "kubernetes"


def config() -> Config:
    if kubernetes_mode():
        return Config(
            max_workers=int(settings.HKUBE_MAX_WORKERS),
            idle_seconds=float(settings.HKUBE_WORKER_IDLE_SECONDS),
            max_starts=int(settings.HKUBE_K8S_MAX_CREATE_PER_PASS),
            assign_devices=False,
        )
    return Config(
        max_workers=int(settings.HKUBE_MAX_WORKERS),
        idle_seconds=float(settings.HKUBE_WORKER_IDLE_SECONDS),
    )


def reconcile() -> Tick:
    client = rc.client()
    if not client.set(rc.EXECUTOR_LOCK, "1", nx=True, px=20_000):
        return {"skipped": "another executor is reconciling"}
    try:
        return _reconcile(launcher())
    except KubeError as exc:  # the API is unreachable or refused: nothing is decided blind
        log.warning("executor: Kubernetes API: %s", exc.message)
        return {"skipped": f"Kubernetes API: {exc.message}"}
    finally:
        client.delete(rc.EXECUTOR_LOCK)


def _observe(launch: Launcher, now: float) -> Snapshot:
    """The snapshot; with worker Jobs, one listing of the cluster folded in."""
    cluster = launch.cluster if isinstance(launch, Routed) else launch
    if not isinstance(cluster, KubernetesLauncher):
        return observe(launch, now)
    from algorithms import kube

    view = cluster.refresh()  # before observe: `alive` answers from this listing
    snapshot = observe(launch, now)
    descriptors = {a.name: a.descriptor for a in Algorithm.objects.all()}
    return with_cluster(
        snapshot,
        view,
        descriptors,
        worker_request=kube.worker_request(cluster.settings),
        gpu_tolerations=cluster.settings.gpu_tolerations,
    )


def _reconcile(launch: Launcher) -> Tick:
    if isinstance(launch, LocalLauncher):
        launch.warm()  # the fork server starts with the executor's first tick, long before it is needed
    settings_now = config()
    now = time.time()
    snapshot = _observe(launch, now)
    lost = lost_workers(snapshot, settings_now)
    if lost:
        # Their chunks go back to the queues first, so this tick counts them as queued work.
        algorithm_pids = act.forget_lost(lost)
        if isinstance(launch, LocalLauncher):
            for pid in algorithm_pids:
                launch.kill(pid)  # its own process group: it outlives a worker killed hard
        if kubernetes_mode():
            # A pod whose worker container died may live on (its algorunner still running):
            # delete the Job, so the pod ends and its room is freed.
            for worker in lost:
                launch.stop(worker.id, worker.pid)
        snapshot = _observe(launch, now)
    plan = decide(snapshot, settings_now)
    started, stopped = act.apply(plan, launch)
    try:
        stream_scaling.tick(snapshot, plan, now)
    except Exception:
        log.exception("executor: the stream autoscaler failed")
    if started or stopped:
        log.info("executor: started %s, stopped %s", started, stopped)
    return {
        "started": started,
        "stopped": stopped,
        "workers": plan.workers,
        "cpu": plan.cpu,
        "unscheduled": {name: warning["message"] for name, warning in plan.warnings.items()},
    }


def stop_all_workers(timeout: float = 15.0) -> None:
    """Stop every registered local worker and wait for them (used when `manage.py up` exits).

    SIGTERM lets a worker finish its chunk and close its algorithm process; whatever is
    still alive after `timeout` is killed."""
    launch = local_launcher()
    workers = registered_workers()
    for worker in workers:
        launch.stop(worker.id, worker.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(launch.alive(w.id, w.pid) for w in workers):
        time.sleep(0.1)
    for worker in workers:
        if launch.alive(worker.id, worker.pid):
            launch.kill(worker.pid)
    # A worker killed before it closed its algorithm process leaves that process group behind.
    for raw in rc.client().hgetall(rc.WORKERS_KEY).values():
        algorithm_pid = json.loads(raw).get("algorithmPid")
        if algorithm_pid:
            launch.kill(int(algorithm_pid))
    rc.client().delete(rc.WORKERS_KEY)
    resources.release_all()
