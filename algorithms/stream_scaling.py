"""The autoscaler of stream jobs' stateless nodes, run with each executor tick (~2 s).

Per running stream job: read the transport's counters (`transport.statistics`), compare with
the previous reading (kept in the job's `scale` hash) into per-edge rates, write the per-edge
figures that `exec/status`, `graph/raw` and the job page show (`StreamKeys.metrics`), and per
stateless node ask the pure `autoscale.decide` how many replicas it wants; more replicas and
stopped ones go through `pipelines.services` (docs/streaming.md, "Autoscaling").
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from django.conf import settings

from algorithms.resources import Resources
from algorithms.runtime.streams import autoscale, transport
from algorithms.scheduling.snapshot import Plan, Snapshot
from hkube_site import redis_client as rc
from pipelines import services

log = logging.getLogger(__name__)


def scale_config() -> autoscale.ScaleConfig:
    return autoscale.ScaleConfig(down_every=float(settings.STREAMING_SCALE_DOWN_SECONDS))


def edge_metrics(counters: dict[str, float], rates: autoscale.EdgeRates | None) -> dict[str, float]:
    """One edge's figures, in HKube's names where it has one (`queueSize`, `throughput`,
    `processingTimeMs`, `queueTimeMs`, `roundTripMs`) plus our counters."""
    return {
        "queueSize": counters.get("queueSize", 0.0),
        "throughput": round(rates.processing_rate, 2) if rates else 0.0,
        "requestRate": round(rates.request_rate, 2) if rates else 0.0,
        "processingTimeMs": round(rates.processing_ms, 3) if rates else 0.0,
        "queueTimeMs": round(rates.queue_ms, 3) if rates else 0.0,
        "roundTripMs": round(rates.round_trip_ms, 3) if rates else 0.0,
        "sent": counters.get("sent", 0.0),
        "received": counters.get("received", 0.0),
        "dropped": counters.get("dropped", 0.0),
    }


def _room(snapshot: Snapshot, plan: Plan, request: Resources | None, max_workers: int) -> int:
    slots = max(0, max_workers - plan.workers)
    if request is None or request.cpu <= 0:
        return slots
    free_cpu = snapshot.budget.total.cpu - plan.cpu
    return max(0, min(slots, math.floor(free_cpu / request.cpu + 1e-9)))


def tick(snapshot: Snapshot, plan: Plan, now: float) -> dict[str, Any]:
    """One pass over the running stream jobs; returns what changed (`{job: {node: +n/-n}}`)."""
    nodes = services.stream_nodes()
    client = rc.client()
    config = scale_config()
    changed: dict[str, dict[str, int]] = {}
    rates_of: dict[str, dict[str, autoscale.EdgeRates]] = {}
    for job_id in services.running_stream_jobs():
        keys = rc.stream_keys(job_id)
        counters = transport.statistics(client, keys)
        raw = client.hget(keys.scale, "reading")
        before = json.loads(raw) if raw else None
        rates: dict[str, autoscale.EdgeRates] = {}
        if before and now > float(before["t"]):
            rates = autoscale.edge_rates(before["counters"], counters, now - float(before["t"]))
        rates_of[job_id] = rates
        figures = {edge: edge_metrics(c, rates.get(edge)) for edge, c in counters.items()}
        pipe = client.pipeline()
        pipe.hset(keys.scale, "reading", json.dumps({"t": now, "counters": counters}))
        pipe.set(keys.metrics, json.dumps(figures), ex=24 * 3600)
        pipe.execute()
    for node in nodes:
        edges = rates_of.get(node.job_id)
        if not edges:
            continue  # the first reading: no rate yet
        state = snapshot.algorithms.get(node.algorithm_name)
        decision = autoscale.decide(
            autoscale.NodeScale(
                current=len(node.replicas),
                minimum=node.minimum,
                maximum=node.maximum,
                rates=autoscale.incoming(edges, node.node_name),
                room=_room(snapshot, plan, state.request if state else None, int(settings.HKUBE_MAX_WORKERS)),
                last_down=node.last_down,
            ),
            now,
            config,
        )
        if decision.up:
            added = services.add_replicas(node.job_id, node.node_name, decision.up)
            changed.setdefault(node.job_id, {})[node.node_name] = len(added)
        elif decision.down:
            stopped = services.stop_replicas(node.job_id, node.node_name, node.replicas, decision.down)
            changed.setdefault(node.job_id, {})[node.node_name] = -len(stopped)
    if changed:
        log.info("stream autoscaler: %s", changed)
    return changed
