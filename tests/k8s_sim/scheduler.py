"""The simulated cluster's scheduler and nodes: where a pod goes, or the scheduler's words for
why it goes nowhere (`0/3 nodes are available: 1 Insufficient nvidia.com/gpu, ...`).

A node fits when its labels match the pod's `nodeSelector`, the pod tolerates its NoSchedule
and NoExecute taints, and its allocatable cpu, memory and `nvidia.com/gpu` minus the requests of
the pods bound to it (every namespace, as a real scheduler counts them) hold the pod's requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from k8s.capacity import Amounts, amounts

ENDED = ("Succeeded", "Failed")
Obj = dict[str, Any]


def node_object(
    name: str, cpu: str, memory: str, gpu: int = 0, taints: Sequence[Obj] = (), labels: Obj | None = None
) -> Obj:
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpu:
        allocatable["nvidia.com/gpu"] = str(gpu)
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": list(taints)} if taints else {},
        "status": {
            "allocatable": allocatable,
            "capacity": allocatable,
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }


def pod_request(spec: Obj) -> Amounts:
    total = Amounts()
    for container in spec.get("containers") or []:
        found = amounts((container.get("resources") or {}).get("requests"))
        total = Amounts(total.cpu + found.cpu, total.mem + found.mem, total.gpu + found.gpu)
    return total


def tolerates(tolerations: Sequence[Obj], taint: Obj) -> bool:
    if taint.get("effect") not in ("NoSchedule", "NoExecute"):
        return True
    for toleration in tolerations:
        if toleration.get("key") not in (None, "", taint.get("key")):
            continue
        if toleration.get("effect") not in (None, "", taint.get("effect")):
            continue
        if toleration.get("operator") == "Exists" or toleration.get("value") == taint.get("value"):
            return True
    return False


def place(spec: Obj, nodes: Sequence[Obj], bound: Sequence[Obj]) -> tuple[str | None, str]:
    """(the first node that fits the pod, "") or (None, the scheduler's message)."""
    wanted = pod_request(spec)
    used: dict[str, Amounts] = {}
    for other in bound:
        got, where = pod_request(other.get("spec") or {}), other["spec"]["nodeName"]
        was = used.get(where, Amounts())
        used[where] = Amounts(was.cpu + got.cpu, was.mem + got.mem, was.gpu + got.gpu)
    reasons: dict[str, int] = {}
    for node in nodes:
        why = _misfit(spec, wanted, node, used.get(node["metadata"]["name"], Amounts()))
        if not why:
            return node["metadata"]["name"], ""
        for text in why:
            reasons[text] = reasons.get(text, 0) + 1
    detail = ", ".join(f"{n} {text}" for text, n in sorted(reasons.items()))
    return None, f"0/{len(nodes)} nodes are available: {detail}." if detail else "no nodes available"


def _misfit(spec: Obj, wanted: Amounts, node: Obj, taken: Amounts) -> list[str]:
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return ["node(s) didn't match Pod's node affinity/selector"]
    taints = (node.get("spec") or {}).get("taints") or []
    untolerated = [t for t in taints if not tolerates(spec.get("tolerations") or [], t)]
    if untolerated:
        taint = untolerated[0]
        return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"]
    room = amounts((node.get("status") or {}).get("allocatable"))
    return [
        f"Insufficient {what}"
        for what, need, free in (
            ("cpu", wanted.cpu, room.cpu - taken.cpu),
            ("memory", wanted.mem, room.mem - taken.mem),
            ("nvidia.com/gpu", wanted.gpu, room.gpu - taken.gpu),
        )
        if need > free + 1e-9
    ]
