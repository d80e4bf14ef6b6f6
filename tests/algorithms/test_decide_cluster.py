"""`decide` with the cluster's capacity (Kubernetes mode), and the observe step that folds a
`k8s.cluster.ClusterView` into the snapshot. Pure: no Redis, no database, no API server."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from algorithms.resources import Budget, Holding, Resources
from algorithms.scheduling.cluster import with_cluster
from algorithms.scheduling.decide import decide, lost_workers
from algorithms.scheduling.snapshot import Config
from k8s.capacity import Amounts, summarize
from k8s.cluster import ClusterView, WorkerPod

from .test_decide import NOW, algorithm, snapshot, started, worker

K8S = Config(max_workers=100, idle_seconds=10, max_starts=10, assign_devices=False)
GPU_TAINT = client.V1Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule")
GPU_TOLERATIONS = ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)


def node(
    name: str, cpu: str, mem: str, gpu: int = 0, *, tainted: bool = False, **labels: str
) -> client.V1Node:
    allocatable = {"cpu": cpu, "memory": mem, **({"nvidia.com/gpu": str(gpu)} if gpu else {})}
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1NodeSpec(taints=[GPU_TAINT] if tainted else None),
        status=client.V1NodeStatus(
            allocatable=allocatable, conditions=[client.V1NodeCondition(type="Ready", status="True")]
        ),
    )


def pod(
    name: str, node_name: str | None, cpu: str, mem: str, gpu: int = 0, phase: str = "Running"
) -> client.V1Pod:
    requests = {"cpu": cpu, "memory": mem, **({"nvidia.com/gpu": str(gpu)} if gpu else {})}
    container = client.V1Container(name="c", resources=client.V1ResourceRequirements(requests=requests))
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(node_name=node_name, containers=[container]),
        status=client.V1PodStatus(phase=phase),
    )


def view(nodes: list[client.V1Node], pods: list[client.V1Pod], **kwargs: Any) -> ClusterView:
    return ClusterView(kwargs.pop("workers", {}), summarize(nodes, pods), kwargs.pop("ours", Amounts()))


CLUSTER = [node("cpu-a", "8", "32Gi"), node("gpu-a", "16", "64Gi", gpu=2, tainted=True)]


# --- never fits: a request larger than any node -------------------------------------------------


def test_a_gpu_request_larger_than_any_node_never_fits() -> None:
    state = snapshot(algorithm("big-gpu", gpu=4, queued=1))
    folded = with_cluster(state, view(CLUSTER, []), {"big-gpu": {"gpu": 4}}, gpu_tolerations=GPU_TOLERATIONS)
    plan = decide(folded, K8S)

    assert plan.start == []
    assert plan.never == {"big-gpu": "Maximum capacity exceeded gpu (4 > 2)"}
    warning = plan.warnings["big-gpu"]
    assert (warning["reason"], warning["isError"]) == ("failedScheduling", True)


def test_the_cluster_total_is_not_what_one_pod_can_get() -> None:
    """Two 8-core nodes make 16 free cores, but a 12-core pod fits on neither."""
    nodes = [node("a", "8", "16Gi"), node("b", "8", "16Gi")]
    state = snapshot(algorithm("wide", cpu=12, queued=1))
    plan = decide(with_cluster(state, view(nodes, []), {"wide": {"cpu": 12}}), K8S)
    assert plan.never == {"wide": "Maximum capacity exceeded cpu (12 > 8)"}


def test_a_gpu_fits_only_through_the_taint_it_tolerates() -> None:
    """The GPU node is tainted: a GPU algorithm tolerates it and fits; a node selector that
    names no node leaves nothing."""
    state = snapshot(algorithm("gpu-alg", gpu=2, queued=1), algorithm("pinned", queued=1))
    descriptors: dict[str, dict[str, Any]] = {
        "gpu-alg": {"gpu": 2},
        "pinned": {"nodeSelector": {"pool": "none"}},
    }
    folded = with_cluster(state, view(CLUSTER, []), descriptors, gpu_tolerations=GPU_TOLERATIONS)

    assert folded.limits["gpu-alg"] == Resources(16.0, 65536.0, 2)
    assert folded.limits["pinned"] == Resources(0.0, 0.0, 0)
    plan = decide(folded, K8S)
    assert started(plan.start) == ["gpu-alg"]
    assert plan.start[0].env == {}  # the device plugin assigns GPUs, not CUDA_VISIBLE_DEVICES
    assert "pinned" in plan.never


def test_without_assign_devices_off_the_local_mode_still_sets_cuda_visible_devices() -> None:
    state = snapshot(algorithm("gpu-alg", gpu=1, queued=1), budget=Budget(4, 8192, ("0", "1")))
    plan = decide(state, Config(max_workers=10, idle_seconds=10))
    assert plan.start[0].env == {"CUDA_VISIBLE_DEVICES": "0"}


# --- capacity: free room, pending pods, our own pods ---------------------------------------------


def test_budget_is_free_room_less_pods_waiting_for_a_node_plus_our_workers() -> None:
    pods = [
        pod("other", "cpu-a", "2", "4Gi"),
        pod("waiting", None, "1", "1Gi", phase="Pending"),
        pod("ours", "gpu-a", "1", "1Gi", gpu=1),
        pod("done", "cpu-a", "6", "1Gi", phase="Succeeded"),  # holds nothing
    ]
    ours = Amounts(1.0, 1024.0, 1)
    folded = with_cluster(
        snapshot(algorithm("a")), view(CLUSTER, pods, ours=ours), {}, gpu_tolerations=GPU_TOLERATIONS
    )
    # free: cpu 24 - 2 - 1 = 21, less 1 waiting = 20, plus ours 1 = 21
    assert folded.budget.cpu == 21.0
    assert folded.budget.mem == (32 + 64 - 4 - 1 - 1 + 1) * 1024.0
    assert len(folded.budget.gpus) == 2  # 1 free + our 1


def test_gpu_ids_keep_the_ones_workers_hold() -> None:
    holdings = {"w1": Holding("g", Resources(1, 1, 1), ("k8s-gpu-1",))}
    state = snapshot(
        algorithm("g", gpu=1, queued=1), holdings=holdings, workers=(worker("w1", "g", busy=True),)
    )
    folded = with_cluster(
        state,
        view(CLUSTER, [pod("w1", "gpu-a", "1", "1Mi", gpu=1)], ours=Amounts(1, 1, 1)),
        {"g": {"gpu": 1}},
        gpu_tolerations=GPU_TOLERATIONS,
    )
    assert folded.budget.gpus == ("k8s-gpu-1", "k8s-gpu-0")
    plan = decide(folded, K8S)
    assert len(plan.start) == 1 and plan.start[0].holding is not None
    assert plan.start[0].holding.devices == ("k8s-gpu-0",)


def test_a_full_cluster_makes_the_algorithm_wait_with_failed_scheduling() -> None:
    pods = [pod("hog", "cpu-a", "8", "32Gi")]
    folded = with_cluster(snapshot(algorithm("a", cpu=1, queued=1)), view([CLUSTER[0]], pods), {})
    plan = decide(folded, K8S)
    assert plan.start == [] and plan.never == {}
    assert plan.warnings["a"]["isError"] is False
    assert plan.warnings["a"]["message"].startswith("Insufficient cpu")


def test_the_worker_container_is_part_of_each_request() -> None:
    folded = with_cluster(
        snapshot(algorithm("a", cpu=1)), view(CLUSTER, []), {}, worker_request=Resources(0.1, 256)
    )
    assert folded.algorithms["a"].request == Resources(1.1, 512.0, 0)


def test_without_node_access_the_configured_budget_stays() -> None:
    state = snapshot(algorithm("a", queued=1))
    folded = with_cluster(state, ClusterView({}, None), {})
    assert folded.budget == state.budget and folded.limits == {}


# --- pods created, not yet running ---------------------------------------------------------------


def test_a_pending_pod_is_supply_and_is_never_lost_for_silence() -> None:
    silent = worker("alg-abcde", "alg", idle_for=0)
    silent.seen = silent.started = NOW - 600  # no heartbeat for ten minutes: its pod waits for room
    pods = {"alg-abcde": WorkerPod("alg-abcde", "alg", "alg-abcde", "Pending", False)}
    folded = with_cluster(
        snapshot(algorithm("alg", queued=1), workers=(silent,)), view(CLUSTER, [], workers=pods), {}
    )

    assert folded.workers[0].pending
    assert lost_workers(folded, K8S) == []
    plan = decide(folded, K8S)
    assert plan.start == [] and plan.lost == []  # one queued message, one worker on its way


def test_a_running_pod_that_went_silent_is_lost() -> None:
    silent = worker("alg-abcde", "alg")
    silent.seen = silent.started = NOW - 600
    pods = {"alg-abcde": WorkerPod("alg-abcde", "alg", "alg-abcde", "Running", False)}
    folded = with_cluster(snapshot(algorithm("alg"), workers=(silent,)), view(CLUSTER, [], workers=pods), {})
    assert [w.id for w in lost_workers(folded, K8S)] == ["alg-abcde"]


def test_creations_per_pass_are_capped() -> None:
    state = snapshot(algorithm("a", queued=50), algorithm("b", queued=50), budget=Budget(1000, 1e6, ()))
    plan = decide(state, Config(max_workers=100, idle_seconds=10, max_starts=10))
    assert len(plan.start) == 10
    uncapped = decide(state, Config(max_workers=100, idle_seconds=10))
    assert len(uncapped.start) == 100
