"""Algorithm workers as Kubernetes Jobs: the launcher the executor uses in Kubernetes mode.

`start` creates one worker Job (`k8s.specs.worker_job`) through `BatchV1Api`; a Retryable
answer (429 with Retry-After, 5xx, a quota 403, a network failure) is tried again with a
backoff, and 409 AlreadyExists counts as created (a retried create whose first try got through).
`stop` deletes the Job with propagation Background (its pod goes too); 404 counts as stopped.
`alive` answers from the last `refresh()` (one listing of the release's worker Jobs and pods
by label, which the executor makes once per pass), so a pass costs a fixed number of calls
whatever the number of workers.

Plain Python: what the worker Job runs (descriptor, version, image, command) comes from the
`resolve` callable the algorithms side passes in.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from k8s import cluster, naming
from k8s.client import Kube, KubeError, Retryable, call
from k8s.objects import to_json
from k8s.specs import AlgorithmDescriptor, WorkerSettings, worker_job

ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class WorkerTemplate:
    """What one worker Job runs: the algorithm version's descriptor and image, and the
    worker container's command."""

    descriptor: AlgorithmDescriptor
    version: str
    image: str
    command: Sequence[str]


@dataclass(frozen=True)
class Started:
    """A created worker: pods have no pid here, so `pid` is 0."""

    worker_id: str
    pid: int = 0


Resolve = Callable[[str, str], WorkerTemplate]  # (algorithm name, worker id) -> template


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries in all
    backoff: float = 0.5  # seconds before the second try, doubled after each
    max_wait: float = 30.0  # the longest wait, Retry-After included


def with_retries(
    action: Callable[[], object], policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Run `action`, trying Retryable failures again; the last failure is raised."""
    wait = policy.backoff
    for attempt in range(1, policy.attempts + 1):
        try:
            action()
            return
        except Retryable as exc:
            if attempt == policy.attempts:
                raise
            sleep(min(policy.max_wait, exc.retry_after if exc.retry_after is not None else wait))
            wait *= 2


class KubernetesLauncher:
    def __init__(
        self,
        kube: Kube,
        settings: WorkerSettings,
        resolve: Resolve,
        *,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        read_nodes: bool = True,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.resolve = resolve
        self.retry = retry
        self.sleep = sleep
        self.read_nodes = read_nodes
        self.view: cluster.ClusterView | None = None

    # --- the Launcher protocol --------------------------------------------------------------------

    def start(self, algorithm_name: str, env: Mapping[str, str] | None = None) -> Started:
        """Create the worker's Job; `env` goes to the worker container (never device ids: the
        device plugin assigns GPUs)."""
        worker_id = f"{algorithm_name}-{''.join(secrets.choice(ID_ALPHABET) for _ in range(5))}"
        template = self.resolve(algorithm_name, worker_id)
        descriptor = template.descriptor
        if env:
            extra = {k: v for k, v in env.items() if k != "CUDA_VISIBLE_DEVICES"}
            descriptor = {**descriptor, "workerEnv": {**(descriptor.get("workerEnv") or {}), **extra}}
        job = worker_job(
            descriptor,
            worker_id=worker_id,
            version=template.version,
            image=template.image,
            worker_command=template.command,
            settings=self.settings,
        )
        self.create(to_json(job))
        if self.view is not None:  # alive until the next listing says otherwise
            pod = cluster.WorkerPod(worker_id, algorithm_name, job.metadata.name, "", False)
            self.view = replace(self.view, workers={**self.view.workers, worker_id: pod})
        return Started(worker_id)

    def stop(self, worker_id: str, pid: int = 0) -> None:
        """Delete the worker's Job and, in the background, its pod (SIGTERM: the worker
        finishes its chunk within the pod's grace period)."""
        self.delete(naming.job_name(worker_id))

    def alive(self, worker_id: str, pid: int = 0) -> bool:
        view = self.view if self.view is not None else self.refresh()
        worker = view.workers.get(worker_id)
        return worker is not None and worker.alive

    # --- the API calls --------------------------------------------------------------------------

    def refresh(self) -> cluster.ClusterView:
        """List the release's workers (and the cluster's capacity) once; `alive` answers from it."""
        self.view = cluster.observe(self.kube, self.settings.release, read_nodes=self.read_nodes)
        return self.view

    def create(self, body: object) -> None:
        def attempt() -> None:
            try:
                call(
                    self.kube.batch.create_namespaced_job,
                    self.kube.namespace,
                    body,
                    _request_timeout=self.kube.request_timeout,
                )
            except KubeError as exc:
                if exc.status == 409 and exc.reason == "AlreadyExists":
                    return  # an earlier try got through
                raise

        with_retries(attempt, self.retry, self.sleep)

    def delete(self, job_name: str) -> None:
        def attempt() -> None:
            try:
                call(
                    self.kube.batch.delete_namespaced_job,
                    job_name,
                    self.kube.namespace,
                    propagation_policy="Background",
                    _request_timeout=self.kube.request_timeout,
                )
            except KubeError as exc:
                if not exc.not_found:
                    raise

        with_retries(attempt, self.retry, self.sleep)
