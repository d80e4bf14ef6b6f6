"""What the Kubernetes supervisor's outcomes do here (`k8s.supervisor.Sink`).

- An image that cannot be pulled: the version is marked (`rc.block_image`: the executor's
  decide step starts no worker for it until the algorithm's version changes), the worker is
  forgotten, and every job waiting on the algorithm fails with HKube's message, now and
  while the mark holds (`periodic`), so later jobs do not wait for a worker that never comes.
- OOMKilled and the other crashes: the pod's fate is kept for `recover_lost_chunk`, which
  puts the worker's in-flight chunk back as for a lost local worker (the node's retry
  policy decides; a final crash carries HKube's out-of-memory message or the pod's story).
  It runs under the executor's lock, so a tick that finds the same worker gone does not
  recover its chunk twice.
- Unschedulable pods: HKube's `failedScheduling` warning with the scheduler's words, in the
  hash `resources.unscheduled()` reads beside the executor's own.
- Adoption: a worker Job the registry does not know is registered as a starting worker; its
  heartbeats take over from there.
"""

from __future__ import annotations

import json
import logging
import time

from algorithms import resources
from algorithms.models import Algorithm
from algorithms.runtime.limits import OOM_MESSAGE
from algorithms.scheduling import act
from hkube_site import redis_client as rc
from k8s.outcomes import Kind, Outcome, WorkerPod
from pipelines import services
from pipelines.models import JobNode, JobStatus, NodeStatus

log = logging.getLogger(__name__)

EXECUTOR_LOCK_MS = 20_000


class ExecutorBusy(Exception):
    """The executor is mid-tick; the supervisor applies the outcome on its next pass."""


class ClusterOutcomes:
    def known_workers(self) -> set[str]:
        return {k.decode() if isinstance(k, bytes) else str(k) for k in rc.client().hkeys(rc.WORKERS_KEY)}

    def algorithm_exists(self, name: str) -> bool:
        return Algorithm.objects.filter(name=name).exists()

    def adopt(self, worker: WorkerPod) -> None:
        act.register_starting(worker.algorithm, worker.worker_id, 0)

    def image_pull_failed(self, worker: WorkerPod, message: str) -> None:
        version = worker.version or _current_version(worker.algorithm)
        if version is not None:
            rc.block_image(worker.algorithm, version, message)
        self._forget(worker.worker_id)
        fail_waiting_jobs(worker.algorithm, message)

    def crashed(self, worker: WorkerPod, outcome: Outcome) -> None:
        rc.set_worker_fate(worker.worker_id, OOM_MESSAGE if outcome.kind == Kind.OOM else outcome.message)
        self._forget(worker.worker_id)

    def unscheduled(self, reasons: dict[str, tuple[str, float]]) -> None:
        """Replace the cluster's warnings: one per algorithm with a pod the scheduler refuses,
        `since` when it first refused it (the delay before `failedScheduling` counts from it)."""
        descriptors = dict(Algorithm.objects.filter(name__in=reasons).values_list("name", "descriptor"))
        now = time.time()
        warnings = {}
        for name, (message, since) in reasons.items():
            request = resources.request_of(descriptors.get(name) or {})
            warning = resources.unscheduled_warning(name, message, request, is_error=False, now=now)
            warning["since"] = int(since * 1000)
            warnings[name] = warning
        pipe = rc.client().pipeline()  # MULTI: readers never see the hash half-written
        pipe.delete(rc.K8S_UNSCHEDULED_KEY)
        if warnings:
            pipe.hset(rc.K8S_UNSCHEDULED_KEY, mapping={k: json.dumps(v) for k, v in warnings.items()})
        pipe.execute()

    def periodic(self) -> None:
        """Drop the marks of algorithms whose version changed (or that were deleted); fail the
        jobs that came to wait on a version still marked."""
        marks = rc.blocked_images()
        if not marks:
            return
        current = dict(Algorithm.objects.filter(name__in=marks).values_list("name", "version"))
        for name, mark in marks.items():
            if current.get(name) != mark.get("version"):
                log.info("algorithm %s changed: its workers may be created again", name)
                rc.unblock_image(name)
            else:
                fail_waiting_jobs(name, str(mark.get("message") or ""))

    def _forget(self, worker_id: str) -> None:
        """Put back the chunk the worker was running and unregister it, under the executor's lock."""
        client = rc.client()
        if not client.set(rc.EXECUTOR_LOCK, "1", nx=True, px=EXECUTOR_LOCK_MS):
            raise ExecutorBusy(f"the executor is reconciling; worker {worker_id} is handled next pass")
        try:
            act.recover_lost_chunk(worker_id)
            client.hdel(rc.WORKERS_KEY, worker_id)
        finally:
            client.delete(rc.EXECUTOR_LOCK)


def fail_waiting_jobs(algorithm_name: str, message: str) -> int:
    """Fail the jobs with a node waiting on the algorithm (HKube fails the whole pipeline on an
    image pull error, batch tolerance aside), then drop their queued messages. Returns how many."""
    waiting = list(
        JobNode.objects.filter(
            algorithm_name=algorithm_name, status=NodeStatus.ACTIVE, job__status=JobStatus.ACTIVE
        ).values_list("job_id", "node_name")
    )
    for job_id, node_name in waiting:
        log.warning("job %s node %s: %s", job_id, node_name, message)
        services.node_failed_unexpectedly(job_id, node_name, message)
    if waiting:
        act.purge_ended_jobs(algorithm_name)
    return len(waiting)


def _current_version(name: str) -> str | None:
    return Algorithm.objects.filter(name=name).values_list("version", flat=True).first()
