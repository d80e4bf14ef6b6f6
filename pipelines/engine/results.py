"""Which nodes make up a job's results, and the progress line of a running job."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from pipelines.engine.dag import Graph

COMPLETED_STATUSES = ("succeed", "failed", "skipped")


def result_nodes(graph: Graph) -> list[str]:
    """Sinks plus nodes flagged `includeInResults` (what HKube reads) or `includeInResult`
    (what HKube documents but ignores: we accept both), in descriptor order.
    """
    sinks = set(graph.sinks())
    return [
        name
        for name, node in graph.nodes.items()
        if name in sinks or node.get("includeInResults") is True or node.get("includeInResult") is True
    ]


def _round2(value: float) -> float:
    # JavaScript's toFixed(2) rounds the exact binary value half up; round() would go to even.
    return float(Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _js_number(value: float) -> str:
    """A number as JavaScript prints it: 100 → "100", 33.33 → "33.33"."""
    return str(int(value)) if value == int(value) else repr(value)


def progress(states: Mapping[str, int], total: int) -> tuple[float, str]:
    """HKube's batch progress over tasks (semantics §5.10): (percent done, details).

    `states` counts tasks per status, in the order the details should list them (statuses
    with no task are left out); `total` counts every task, a node not yet expanded being one.
    """
    if total <= 0:
        return 0.0, ""
    done = sum(states.get(status, 0) for status in COMPLETED_STATUSES)
    percent = _round2(done / total * 100)
    counts = ", ".join(f"{count} {status}" for status, count in states.items() if count)
    return percent, f"{_js_number(percent)}% completed, {counts}"
