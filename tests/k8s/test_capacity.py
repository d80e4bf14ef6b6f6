"""Cluster capacity: allocatable minus the requests of running and pending pods, per node."""

from __future__ import annotations

from typing import Any

import pytest

from k8s.capacity import Amounts, Pressure, Taint, amounts, pod_request, summarize, tolerated
from k8s.objects import to_model

GPU = {"nvidia.com/gpu": "1"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def node(name: str, cpu: str, memory: str, gpu: int = 0, *, taints: list[dict[str, str]] | None = None,
         labels: dict[str, str] | None = None, ready: bool = True,
         cordoned: bool = False) -> Any:  # fmt: skip
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "95Gi"}
    if gpu:
        allocatable["nvidia.com/gpu"] = str(gpu)
    return to_model({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints or [], "unschedulable": cordoned},
        "status": {"allocatable": allocatable, "capacity": allocatable,
                   "conditions": [{"type": "MemoryPressure", "status": "False"},
                                  {"type": "Ready", "status": "True" if ready else "Unknown"}]},
    }, "V1Node", name)  # fmt: skip


def container(name: str, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> Any:
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    return {"name": name, "image": "x", "resources": resources}


def pod(name: str, node_name: str | None, phase: str, *containers: dict[str, Any],
        init: list[dict[str, Any]] | None = None, overhead: dict[str, str] | None = None) -> Any:  # fmt: skip
    spec: dict[str, Any] = {"containers": list(containers)}
    if node_name:
        spec["nodeName"] = node_name
    if init:
        spec["initContainers"] = init
    if overhead:
        spec["overhead"] = overhead
    return to_model({"metadata": {"name": name, "namespace": "hkube"}, "spec": spec,
                     "status": {"phase": phase}}, "V1Pod", name)  # fmt: skip


def test_free_is_allocatable_minus_running_and_pending_requests() -> None:
    cluster = summarize(
        [node("n1", "4", "8Gi")],
        [
            pod("a", "n1", "Running", container("worker", {"cpu": "100m", "memory": "256Mi"}),
                container("algorunner", {"cpu": "1", "memory": "1Gi"})),
            pod("b", "n1", "Pending", container("c", {"cpu": "500m", "memory": "512Mi"})),
            pod("done", "n1", "Succeeded", container("c", {"cpu": "2", "memory": "2Gi"})),
            pod("failed", "n1", "Failed", container("c", {"cpu": "2", "memory": "2Gi"})),
        ],
    )  # fmt: skip
    (only,) = cluster.nodes
    assert only.requested == Amounts(1.6, 1792.0, 0)
    assert only.free.cpu == pytest.approx(2.4)
    assert only.free.mem == 8192 - 1792
    assert only.pods == 2


def test_pending_pods_without_a_node_are_counted_apart() -> None:
    cluster = summarize([node("n1", "4", "8Gi")], [pod("p", None, "Pending", container("c", {"cpu": "2"}))])
    assert cluster.nodes[0].requested == Amounts()
    assert (cluster.unbound, cluster.unbound_pods) == (Amounts(2.0, 0.0, 0), 1)


def test_a_limit_without_a_request_counts_as_the_request_as_for_gpus() -> None:
    limits = {"nvidia.com/gpu": "1", "memory": "2Gi"}
    gpu_pod = pod("g", "n1", "Running", container("c", {"cpu": "1"}, limits))
    assert pod_request(gpu_pod) == Amounts(1.0, 2048.0, 1)


def test_init_containers_count_by_their_largest_and_overhead_is_added() -> None:
    request = pod_request(pod(
        "i", "n1", "Running", container("a", {"cpu": "500m", "memory": "100Mi"}),
        container("b", {"cpu": "500m", "memory": "100Mi"}),
        init=[container("init", {"cpu": "2", "memory": "50Mi"})], overhead={"cpu": "250m", "memory": "10Mi"},
    ))  # fmt: skip
    assert request == Amounts(2.25, 210.0, 0)


def test_gpus_are_counted_per_node() -> None:
    cluster = summarize(
        [node("gpu-1", "32", "128Gi", gpu=2, taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])],
        [pod("t", "gpu-1", "Running", container("algorunner", GPU, GPU))],
    )
    assert cluster.nodes[0].free.gpu == 1
    assert cluster.free([GPU_TOLERATION]).gpu == 1


def test_a_tainted_gpu_pool_is_usable_only_by_pods_that_tolerate_it() -> None:
    cluster = summarize(
        [node("cpu-1", "8", "16Gi"),
         node("gpu-1", "32", "128Gi", gpu=4,
              taints=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])],
        [],
    )  # fmt: skip
    assert [n.name for n in cluster.usable()] == ["cpu-1"]
    assert [n.name for n in cluster.usable([GPU_TOLERATION])] == ["cpu-1", "gpu-1"]
    assert cluster.free().gpu == 0
    assert cluster.free([GPU_TOLERATION]) == Amounts(40.0, 144 * 1024.0, 4)
    assert cluster.place(Amounts(1, 100, 1)) is None
    assert cluster.place(Amounts(1, 100, 1), [GPU_TOLERATION]) == "gpu-1"


def test_prefer_no_schedule_taints_do_not_keep_pods_out() -> None:
    cluster = summarize([node("n", "2", "2Gi", taints=[{"key": "soft", "effect": "PreferNoSchedule"}])], [])
    assert [n.name for n in cluster.usable()] == ["n"]


def test_cordoned_and_not_ready_nodes_offer_nothing() -> None:
    cluster = summarize([node("ok", "2", "2Gi"), node("cordoned", "8", "8Gi", cordoned=True),
                         node("lost", "8", "8Gi", ready=False)], [])  # fmt: skip
    assert [n.name for n in cluster.usable()] == ["ok"]
    assert cluster.free() == Amounts(2.0, 2048.0, 0)


def test_node_selector_limits_the_nodes() -> None:
    cluster = summarize([node("a", "4", "4Gi", labels={"pool": "fast"}), node("b", "8", "8Gi")], [])
    assert [n.name for n in cluster.usable(node_selector={"pool": "fast"})] == ["a"]
    assert cluster.largest(node_selector={"pool": "fast"}) == Amounts(4.0, 4096.0, 0)
    assert cluster.largest() == Amounts(8.0, 8192.0, 0)


def test_place_prefers_the_node_with_most_free_cpu_and_honours_pressure() -> None:
    cluster = summarize(
        [node("small", "2", "4Gi"), node("big", "4", "4Gi")],
        [pod("x", "big", "Running", container("c", {"cpu": "3", "memory": "1Gi"}))],
    )
    assert cluster.place(Amounts(1.0, 1024.0)) == "small"
    # HKube's margins: 0.9 of 2 cores leaves 1.8, so 1.9 cores does not fit under pressure.
    assert cluster.place(Amounts(1.9, 100.0)) == "small"
    assert cluster.place(Amounts(1.9, 100.0), pressure=Pressure(cpu=0.9, mem=0.8)) is None


def test_toleration_matching_follows_kubernetes() -> None:
    taint = Taint("nvidia.com/gpu", "present", "NoSchedule")
    assert tolerated(taint, [{"operator": "Exists"}])
    assert tolerated(taint, [{"key": "nvidia.com/gpu", "operator": "Exists"}])
    assert tolerated(taint, [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}])
    assert not tolerated(taint, [{"key": "nvidia.com/gpu", "value": "absent"}])
    assert not tolerated(taint, [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}])
    assert not tolerated(taint, [{"key": "other", "operator": "Exists"}])
    assert not tolerated(taint, [])


def test_quantities_in_every_form_the_api_server_returns() -> None:
    assert amounts({"cpu": "3920m", "memory": "16283716Ki", "nvidia.com/gpu": "8"}) == Amounts(
        3.92, 16283716 / 1024, 8
    )
    assert amounts({"cpu": "2", "memory": "1073741824"}) == Amounts(2.0, 1024.0, 0)
    assert amounts({"memory": "1G"}).mem == pytest.approx(1e9 / 2**20)
    assert amounts(None) == Amounts()
