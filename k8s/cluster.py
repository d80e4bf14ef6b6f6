"""What the executor sees of the cluster in one pass: capacity and this release's worker Jobs.

One pass lists the release's worker Jobs and pods (by label), and, when the service account may
read them (the chart's optional ClusterRole), the nodes and every pod that holds room, for
`capacity.summarize`. A worker is `pending` while its Job exists and its pod is not Running
yet (no pod, Pending, containers still starting): the executor counts it as supply already
asked for and never takes it for lost. Plain Python: callers pass the `Kube` in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubernetes import client

from k8s import naming
from k8s.capacity import HOLDING_PHASES, Amounts, ClusterCapacity, pod_request, summarize
from k8s.client import Fatal, Kube, call

ENDED_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True)
class WorkerPod:
    """One worker Job and its pod as the API shows them."""

    worker_id: str
    algorithm: str
    job: str
    phase: str  # the pod's phase, "" while the Job has no pod yet
    finished: bool  # the Job ended (Complete or Failed), or its pod ended

    @property
    def pending(self) -> bool:
        """Created, not running yet: the executor counts it and waits for it."""
        return not self.finished and self.phase != "Running"

    @property
    def alive(self) -> bool:
        return not self.finished


@dataclass(frozen=True)
class ClusterView:
    """`capacity` is None when nodes cannot be read (no ClusterRole): the executor then uses
    its configured budget. `ours` is what this release's worker pods hold of that capacity."""

    workers: dict[str, WorkerPod]
    capacity: ClusterCapacity | None = None
    ours: Amounts = field(default_factory=Amounts)

    def pending(self, algorithm: str) -> int:
        return sum(1 for w in self.workers.values() if w.algorithm == algorithm and w.pending)


def worker_selector(release: str) -> str:
    return naming.selector({naming.RELEASE: naming.label_value(release), naming.COMPONENT: naming.WORKER})


def _job_finished(job: client.V1Job) -> bool:
    status = job.status
    if status is None:
        return False
    if status.succeeded or status.failed:
        return True
    return any(c.type in ("Complete", "Failed") and c.status == "True" for c in (status.conditions or []))


def list_workers(kube: Kube, release: str) -> tuple[dict[str, WorkerPod], list[client.V1Pod]]:
    """The release's worker Jobs by worker id, and their pods."""
    selector = worker_selector(release)
    timeout = kube.request_timeout
    jobs = call(
        kube.batch.list_namespaced_job, kube.namespace, label_selector=selector, _request_timeout=timeout
    )
    pods = call(
        kube.core.list_namespaced_pod, kube.namespace, label_selector=selector, _request_timeout=timeout
    )
    pod_of: dict[str, client.V1Pod] = {}
    for pod in pods.items:
        labels = (pod.metadata.labels if pod.metadata else None) or {}
        worker_id = labels.get(naming.WORKER_ID)
        if worker_id and (worker_id not in pod_of or _phase(pod) not in ENDED_PHASES):
            pod_of[worker_id] = pod  # a Job with backoffLimit 0 has one pod; prefer a live one
    workers = {}
    for job in jobs.items:
        labels = (job.metadata.labels if job.metadata else None) or {}
        worker_id = labels.get(naming.WORKER_ID)
        if not worker_id:
            continue
        pod = pod_of.get(worker_id)
        phase = _phase(pod) if pod is not None else ""
        workers[worker_id] = WorkerPod(
            worker_id=worker_id,
            algorithm=labels.get(naming.ALGORITHM, ""),
            job=job.metadata.name,
            phase=phase,
            finished=_job_finished(job) or phase in ENDED_PHASES,
        )
    return workers, list(pods.items)


def _phase(pod: client.V1Pod) -> str:
    return str(pod.status.phase or "") if pod.status else ""


def observe(kube: Kube, release: str, *, read_nodes: bool = True) -> ClusterView:
    """One pass. Raises `k8s.client.KubeError` when the workers cannot be listed; nodes that
    cannot be read (a Fatal 403: no ClusterRole) leave `capacity` None."""
    workers, pods = list_workers(kube, release)
    ours = Amounts()
    for pod in pods:
        if _phase(pod) in HOLDING_PHASES:
            ours += pod_request(pod)
    if not read_nodes:
        return ClusterView(workers, None, ours)
    timeout = kube.request_timeout
    try:
        nodes = call(kube.core.list_node, _request_timeout=timeout)
        every_pod = call(
            kube.core.list_pod_for_all_namespaces,
            field_selector="status.phase!=Succeeded,status.phase!=Failed",
            _request_timeout=timeout,
        )
    except Fatal as exc:
        if exc.status != 403:
            raise
        return ClusterView(workers, None, ours)  # no ClusterRole to read nodes: the budget applies
    return ClusterView(workers, summarize(nodes.items, every_pod.items), ours)
