"""The simulated scheduler's placement and its messages (the words the supervisor shows)."""

from __future__ import annotations

from typing import Any

from tests.k8s_sim.scheduler import node_object, place

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def spec(gpu: int = 0, cpu: str = "1", tolerations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    requests = {"cpu": cpu, "memory": "256Mi", **({"nvidia.com/gpu": str(gpu)} if gpu else {})}
    return {
        "containers": [{"name": "c", "resources": {"requests": requests}}],
        "tolerations": tolerations or [],
    }


def bound(node: str, gpu: int) -> dict[str, Any]:
    return {**{"spec": {"nodeName": node, **spec(gpu=gpu)}}, "metadata": {"name": "other"}}


def test_a_tainted_gpu_node_takes_only_pods_that_tolerate_its_taint() -> None:
    nodes = [node_object("gpu-a", "8", "32Gi", gpu=2, taints=[GPU_TAINT])]
    assert place(spec(gpu=1), nodes, []) == (
        None, "0/1 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}."
    )  # fmt: skip
    tolerating = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert place(spec(gpu=1, tolerations=tolerating), nodes, []) == ("gpu-a", "")


def test_requests_of_pods_already_bound_count_against_the_node() -> None:
    nodes = [node_object("a", "4", "8Gi", gpu=2), node_object("b", "4", "8Gi")]
    assert place(spec(gpu=2), nodes, [bound("a", 1)]) == (
        None, "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."
    )  # fmt: skip
    assert place(spec(gpu=1), nodes, [bound("a", 1)]) == ("a", "")
    assert place(spec(cpu="5"), nodes, []) == (None, "0/2 nodes are available: 2 Insufficient cpu.")
