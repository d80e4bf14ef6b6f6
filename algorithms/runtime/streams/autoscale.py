"""How many replicas a stateless stream node wants (docs/streaming.md, "Autoscaling"). Plain Python.

Every ~2 s the platform reads the transport's counters (``transport.statistics``); two readings
give, per edge, the **request rate** (messages sent to it per second), the **processing rate**
(messages its target processed per second) and the **queue size**. A replica's own rate is
what it processed per second of processing time (``received / durationMs``), so the node
wants about ``(request rate + queue / drain_seconds) / per-replica rate`` replicas: bounded
by ``maxStatelessCount``, by what the executor can still place (``room``), at most
``max_up`` more per tick, and at least ``minStatelessCount`` (at least 1). An idle node (no
request, empty queue) goes back to its minimum. Scaling down has hysteresis: at most one
scale-down per ``down_every`` seconds, and never while the queue is not empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

Counters = Mapping[str, Mapping[str, float]]  # edge ("source>target") -> counter -> value


@dataclass(frozen=True)
class EdgeRates:
    request_rate: float  # messages/s sent on the edge
    processing_rate: float  # messages/s its target processed
    queue_size: float  # entries waiting in its stream now
    per_replica_rate: float  # messages/s one replica processes (0: not measured yet)
    processing_ms: float  # mean processing time per message over the interval (0: none)
    queue_ms: float = 0.0  # mean time a message waited in the stream before it was read
    round_trip_ms: float = 0.0  # mean time from its send to its acknowledgement


@dataclass(frozen=True)
class ScaleConfig:
    max_up: int = 10  # new replicas per tick at most
    down_every: float = 30.0  # seconds between two scale-downs at least
    drain_seconds: float = 10.0  # a queue counts as demand to empty in this many seconds


@dataclass(frozen=True)
class NodeScale:
    """One stateless node at the time of a tick."""

    current: int  # replicas running
    minimum: int  # minStatelessCount
    maximum: int | None  # maxStatelessCount (None: no bound of its own)
    rates: tuple[EdgeRates, ...]  # its incoming edges
    room: int  # replicas the executor could still place for it
    last_down: float | None = None  # when it was last scaled down


@dataclass(frozen=True)
class Decision:
    wanted: int
    up: int = 0
    down: int = 0


def edge_rates(before: Counters, after: Counters, seconds: float) -> dict[str, EdgeRates]:
    """Per edge, the rates between two readings ``seconds`` apart."""
    found: dict[str, EdgeRates] = {}
    span = max(seconds, 1e-6)
    for edge, now in after.items():
        then = before.get(edge, {})
        sent = max(0.0, now.get("sent", 0.0) - then.get("sent", 0.0))
        received = max(0.0, now.get("received", 0.0) - then.get("received", 0.0))
        busy_ms = max(0.0, now.get("durationMs", 0.0) - then.get("durationMs", 0.0))
        queued_ms = max(0.0, now.get("queueTimeMs", 0.0) - then.get("queueTimeMs", 0.0))
        trip_ms = max(0.0, now.get("roundTripMs", 0.0) - then.get("roundTripMs", 0.0))
        found[edge] = EdgeRates(
            request_rate=sent / span,
            processing_rate=received / span,
            queue_size=now.get("queueSize", 0.0),
            per_replica_rate=received * 1000.0 / busy_ms if busy_ms > 0 and received else 0.0,
            processing_ms=busy_ms / received if received else 0.0,
            queue_ms=queued_ms / received if received else 0.0,
            round_trip_ms=trip_ms / received if received else 0.0,
        )
    return found


def incoming(rates: Mapping[str, EdgeRates], node: str) -> tuple[EdgeRates, ...]:
    return tuple(r for edge, r in sorted(rates.items()) if edge.rpartition(">")[2] == node)


def decide(node: NodeScale, now: float, config: ScaleConfig = ScaleConfig()) -> Decision:
    """The replicas ``node`` wants, and how many to start or stop now."""
    low = max(1, node.minimum)
    high = max(low, node.maximum) if node.maximum else None
    demand = sum(r.request_rate for r in node.rates)
    queue = sum(r.queue_size for r in node.rates)
    if demand <= 0 and queue <= 0:
        wanted = low
    else:
        measured = [r.per_replica_rate for r in node.rates if r.per_replica_rate > 0]
        processed = sum(r.processing_rate for r in node.rates)
        if measured:
            per_replica = sum(measured) / len(measured)
        elif processed > 0:
            per_replica = processed / max(1, node.current)
        else:
            per_replica = 0.0
        if per_replica <= 0:
            wanted = node.current  # nothing processed yet: no basis to change
        else:
            wanted = math.ceil((demand + queue / config.drain_seconds) / per_replica)
    wanted = max(low, wanted)
    if high is not None:
        wanted = min(high, wanted)
    if wanted > node.current:
        up = min(wanted - node.current, config.max_up, max(0, node.room))
        return Decision(wanted, up=up)
    if wanted < node.current:
        recent = node.last_down is not None and now - node.last_down < config.down_every
        if recent or queue > 0:
            return Decision(wanted)
        return Decision(wanted, down=node.current - wanted)
    return Decision(wanted)
