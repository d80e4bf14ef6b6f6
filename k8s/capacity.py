"""Cluster capacity from nodes and pods: what each node has left for one more pod.

A node's free amount is its allocatable minus the requests of the pods bound to it that
still hold resources (Running and Pending; Succeeded and Failed hold none). A pod's request
is what the scheduler counts: the larger of its containers' sum and its largest init
container, plus its overhead; a container with a limit and no request requests its limit.
Pending pods not yet bound to a node are totalled apart (`unbound`): they will take room
somewhere, and the executor counts them as supply already asked for.

Which nodes a pod may use depends on the pod: cordoned and not-Ready nodes take none, a
`NoSchedule`/`NoExecute` taint keeps out pods that do not tolerate it (so a GPU pool tainted
`nvidia.com/gpu` is usable by GPU algorithms, which tolerate it, and not by others), and the
nodeSelector must match. Plain Python over the client's models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from k8s.quantities import GPU_RESOURCE, QuantityError, cpu_cores, gpus, memory_mi

EPSILON = 1e-9
HOLDING_PHASES = ("Pending", "Running")
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class Amounts:
    """cpu in cores, mem in Mi, gpu in whole devices."""

    cpu: float = 0.0
    mem: float = 0.0
    gpu: int = 0

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.cpu + other.cpu, self.mem + other.mem, self.gpu + other.gpu)

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(self.cpu - other.cpu, self.mem - other.mem, self.gpu - other.gpu)

    def covers(self, request: Amounts) -> bool:
        enough_cpu = request.cpu <= self.cpu + EPSILON
        return enough_cpu and request.mem <= self.mem + EPSILON and request.gpu <= self.gpu


@dataclass(frozen=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"


@dataclass(frozen=True)
class Pressure:
    """The share of allocatable a placement may fill (HKube's task-executor: cpu 0.9, mem 0.8)."""

    cpu: float = 1.0
    mem: float = 1.0
    gpu: float = 1.0


@dataclass(frozen=True)
class NodeCapacity:
    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    schedulable: bool
    allocatable: Amounts
    requested: Amounts
    pods: int = 0

    @property
    def free(self) -> Amounts:
        return self.allocatable - self.requested

    def admits(self, tolerations: Sequence[Mapping[str, Any]], node_selector: Mapping[str, str]) -> bool:
        """Whether a pod with these tolerations and nodeSelector may be placed here at all."""
        if not self.schedulable:
            return False
        if any(self.labels.get(key) != value for key, value in node_selector.items()):
            return False
        return all(tolerated(taint, tolerations) for taint in self.taints if taint.effect in BLOCKING_EFFECTS)

    def fits(self, request: Amounts, pressure: Pressure = Pressure()) -> bool:
        """Whether `request` fits in what is left under `pressure`."""
        room = Amounts(
            self.allocatable.cpu * pressure.cpu - self.requested.cpu,
            self.allocatable.mem * pressure.mem - self.requested.mem,
            int(self.allocatable.gpu * pressure.gpu + EPSILON) - self.requested.gpu,
        )
        return room.covers(request)


@dataclass(frozen=True)
class ClusterCapacity:
    """Every node's capacity, and the requests of pods not yet bound to a node."""

    nodes: tuple[NodeCapacity, ...]
    unbound: Amounts = field(default_factory=Amounts)
    unbound_pods: int = 0

    def usable(
        self, tolerations: Sequence[Mapping[str, Any]] = (), node_selector: Mapping[str, str] | None = None
    ) -> tuple[NodeCapacity, ...]:
        return tuple(node for node in self.nodes if node.admits(tolerations, node_selector or {}))

    def free(
        self, tolerations: Sequence[Mapping[str, Any]] = (), node_selector: Mapping[str, str] | None = None
    ) -> Amounts:
        """Free amounts summed over the nodes such a pod may use (negative parts count as 0)."""
        total = Amounts()
        for node in self.usable(tolerations, node_selector):
            free = node.free
            total += Amounts(max(0.0, free.cpu), max(0.0, free.mem), max(0, free.gpu))
        return total

    def place(
        self,
        request: Amounts,
        tolerations: Sequence[Mapping[str, Any]] = (),
        node_selector: Mapping[str, str] | None = None,
        pressure: Pressure = Pressure(),
    ) -> str | None:
        """The first usable node (most free cpu first, as HKube sorts) with room, or None."""
        nodes = sorted(self.usable(tolerations, node_selector), key=lambda n: (-n.free.cpu, n.name))
        return next((node.name for node in nodes if node.fits(request, pressure)), None)

    def largest(
        self, tolerations: Sequence[Mapping[str, Any]] = (), node_selector: Mapping[str, str] | None = None
    ) -> Amounts:
        """The largest allocatable of any usable node, per resource: a request above it can
        never be placed (HKube's `Maximum capacity exceeded`)."""
        nodes = self.usable(tolerations, node_selector)
        return Amounts(
            max((n.allocatable.cpu for n in nodes), default=0.0),
            max((n.allocatable.mem for n in nodes), default=0.0),
            max((n.allocatable.gpu for n in nodes), default=0),
        )


def tolerated(taint: Taint, tolerations: Sequence[Mapping[str, Any]]) -> bool:
    """Kubernetes' rule: a toleration matches when its effect is empty or equal, and its key is
    empty with `Exists` (everything) or equal, with `Exists` or an equal value."""
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.effect:
            continue
        key = toleration.get("key") or ""
        operator = toleration.get("operator") or "Equal"
        if not key:
            if operator == "Exists":
                return True
            continue
        if key != taint.key:
            continue
        if operator == "Exists" or (toleration.get("value") or "") == taint.value:
            return True
    return False


def amounts(resources: Mapping[str, Any] | None) -> Amounts:
    """cpu, memory and `nvidia.com/gpu` of a requests/limits/allocatable map."""
    values = resources or {}
    try:
        return Amounts(
            cpu_cores(values["cpu"]) if "cpu" in values else 0.0,
            memory_mi(values["memory"]) if "memory" in values else 0.0,
            gpus(values[GPU_RESOURCE]) if GPU_RESOURCE in values else 0,
        )
    except QuantityError:
        return Amounts()  # the API server validated these; an unreadable one counts as nothing


def _container_request(container: client.V1Container) -> Amounts:
    resources = container.resources
    if resources is None:
        return Amounts()
    # A resource with only a limit is requested at its limit (the API server defaults it so).
    merged = {**(resources.limits or {}), **(resources.requests or {})}
    return amounts(merged)


def pod_request(pod: client.V1Pod) -> Amounts:
    """What the scheduler reserves for `pod`."""
    spec = pod.spec
    if spec is None:
        return Amounts()
    total = Amounts()
    for container in spec.containers or []:
        total += _container_request(container)
    init = [_container_request(c) for c in spec.init_containers or []]
    result = Amounts(
        max([total.cpu, *(a.cpu for a in init)]),
        max([total.mem, *(a.mem for a in init)]),
        max([total.gpu, *(a.gpu for a in init)]),
    )
    return result + amounts(spec.overhead)


def _node_ready(node: client.V1Node) -> bool:
    conditions = (node.status.conditions if node.status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def summarize(nodes: Iterable[client.V1Node], pods: Iterable[client.V1Pod]) -> ClusterCapacity:
    """The capacity of the cluster made of `nodes`, with `pods` (all namespaces) holding room."""
    requested: dict[str, Amounts] = {}
    counts: dict[str, int] = {}
    unbound = Amounts()
    unbound_pods = 0
    for pod in pods:
        phase = pod.status.phase if pod.status else None
        if phase not in HOLDING_PHASES:
            continue
        node_name = pod.spec.node_name if pod.spec else None
        if node_name:
            requested[node_name] = requested.get(node_name, Amounts()) + pod_request(pod)
            counts[node_name] = counts.get(node_name, 0) + 1
        else:
            unbound += pod_request(pod)
            unbound_pods += 1
    summary = []
    for node in nodes:
        name = node.metadata.name if node.metadata else ""
        spec = node.spec
        summary.append(
            NodeCapacity(
                name=name,
                labels=dict((node.metadata.labels if node.metadata else None) or {}),
                taints=tuple(
                    Taint(t.key, t.value or "", t.effect) for t in ((spec.taints if spec else None) or [])
                ),
                schedulable=not (spec and spec.unschedulable) and _node_ready(node),
                allocatable=amounts(node.status.allocatable if node.status else None),
                requested=requested.get(name, Amounts()),
                pods=counts.get(name, 0),
            )
        )
    return ClusterCapacity(tuple(sorted(summary, key=lambda n: n.name)), unbound, unbound_pods)
