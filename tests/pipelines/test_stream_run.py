"""A stream job's tasks at start (pipelines/services/stream_run.py) and the relay's routing
(algorithms/runtime/streams/relay.py): pure functions of HKube's parsedFlow."""

from __future__ import annotations

from algorithms.runtime.streams.relay import all_next, all_previous, next_nodes
from pipelines.services.stream_run import neighbours, replicas

FLOWS = {
    "main": [{"source": "A", "next": ["B", "C"]}, {"source": "B", "next": ["D"]}],
    "side": [{"source": "A", "next": ["D"]}, {"source": "D", "next": ["A"]}],
}


def test_neighbours_over_every_flow_in_first_seen_order() -> None:
    assert neighbours(FLOWS, "A") == (["B", "C", "D"], ["D"])
    assert neighbours(FLOWS, "D") == (["A"], ["B", "A"])
    assert neighbours(FLOWS, "C") == ([], ["A"])
    assert (all_next(FLOWS, "A"), all_previous(FLOWS, "D")) == (["B", "C", "D"], ["B", "A"])


def test_routing_follows_one_flow() -> None:
    assert next_nodes(FLOWS, "main", "A") == ["B", "C"]
    assert next_nodes(FLOWS, "side", "A") == ["D"]
    assert next_nodes(FLOWS, "side", "B") == []
    assert next_nodes(FLOWS, "nope", "A") == []


def test_replicas_one_stateful_at_least_one_stateless() -> None:
    assert replicas({"stateType": "stateful", "minStatelessCount": 5}) == 1
    assert replicas({"stateType": "stateless"}) == 1
    assert replicas({"stateType": "stateless", "minStatelessCount": 0}) == 1
    assert replicas({"stateType": "stateless", "minStatelessCount": 3}) == 3
