"""The observe step for Kubernetes mode: the cluster's view folded into the executor's snapshot.

Pure: a `Snapshot` (as `observe` read it from Redis and the database) and a `k8s.cluster
.ClusterView` in, a `Snapshot` out, so `decide` stays the same function in both modes.

- **Capacity.** The budget is what the cluster has left, over the nodes a GPU-tolerating pod
  may use, less every pod still waiting for a node, plus what this release's worker pods hold
  (the ledger subtracts their holdings again, so none is counted twice, and a worker whose Job
  has no pod yet is counted once, from its holding). GPUs are counted, not named: the ids are
  placeholders (`k8s-gpu-N`) and no `CUDA_VISIBLE_DEVICES` is set. Without node access (no
  ClusterRole), the configured budget stays.
- **Never fits.** Per algorithm, the largest allocatable of any node its pod may use (its
  tolerations, the GPU taint's when it asks for GPUs, its nodeSelector): a request above it is
  HKube's `Maximum capacity exceeded`, whatever frees up.
- **A pod is two containers.** An algorithm's request grows by the worker container's.
- **Pending workers.** A worker whose pod is created and not running yet is marked `pending`:
  supply already asked for, never taken for lost while it waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from algorithms.resources import Budget, Resources
from algorithms.scheduling.snapshot import Snapshot
from k8s.capacity import Amounts
from k8s.cluster import ClusterView
from k8s.quantities import GPU_RESOURCE

GPU_ID_PREFIX = "k8s-gpu-"


def _resources(amounts: Amounts) -> Resources:
    return Resources(max(0.0, amounts.cpu), max(0.0, amounts.mem), max(0, amounts.gpu))


def _tolerations(descriptor: Mapping[str, Any], gpu_tolerations: Sequence[Mapping[str, Any]]) -> list[Any]:
    own = list(descriptor.get("tolerations") or [])
    return own + list(gpu_tolerations) if float(descriptor.get("gpu") or 0) > 0 else own


def with_cluster(
    snapshot: Snapshot,
    view: ClusterView,
    descriptors: Mapping[str, Mapping[str, Any]],
    *,
    worker_request: Resources = Resources(),
    gpu_tolerations: Sequence[Mapping[str, Any]] = ({"key": GPU_RESOURCE, "operator": "Exists"},),
) -> Snapshot:
    """`snapshot` as Kubernetes sees it (see the module's text)."""
    workers = tuple(
        replace(w, pending=view.workers[w.id].pending) if w.id in view.workers else w
        for w in snapshot.workers
    )
    algorithms = {
        name: replace(state, request=state.request + worker_request)
        for name, state in snapshot.algorithms.items()
    }
    capacity = view.capacity
    if capacity is None:
        return replace(snapshot, workers=workers, algorithms=algorithms)

    free = _resources(capacity.free(gpu_tolerations) - capacity.unbound)
    ours = _resources(view.ours)
    gpu_count = free.gpu + ours.gpu
    held = sorted({d for h in snapshot.holdings.values() for d in h.devices})
    fresh = (f"{GPU_ID_PREFIX}{i}" for i in range(10_000) if f"{GPU_ID_PREFIX}{i}" not in held)
    gpus = tuple(held) + tuple(next(fresh) for _ in range(max(0, gpu_count - len(held))))
    budget = Budget(free.cpu + ours.cpu, free.mem + ours.mem, gpus)

    limits = {}
    for name in algorithms:
        descriptor = descriptors.get(name) or {}
        selector = {str(k): str(v) for k, v in (descriptor.get("nodeSelector") or {}).items()}
        largest = capacity.largest(_tolerations(descriptor, gpu_tolerations), selector)
        limits[name] = _resources(largest)
    return replace(snapshot, workers=workers, algorithms=algorithms, budget=budget, limits=limits)
