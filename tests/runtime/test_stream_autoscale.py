"""The autoscaler's decision (algorithms/runtime/streams/autoscale.py): plain Python."""

from __future__ import annotations

from algorithms.runtime.streams.autoscale import (
    Decision,
    EdgeRates,
    NodeScale,
    ScaleConfig,
    decide,
    edge_rates,
    incoming,
)


def rates(
    request: float, per_replica: float, queue: float = 0.0, processing: float = 0.0
) -> tuple[EdgeRates, ...]:
    return (EdgeRates(request, processing, queue, per_replica, 0.0),)


def node(current: int, edge: tuple[EdgeRates, ...], **kw: object) -> NodeScale:
    base: dict[str, object] = {"minimum": 1, "maximum": None, "room": 100, "last_down": None}
    base.update(kw)
    return NodeScale(current=current, rates=edge, **base)  # type: ignore[arg-type]


def test_rates_from_two_readings() -> None:
    before = {
        "a>b": {"sent": 100, "received": 50, "durationMs": 1000, "queueTimeMs": 500, "roundTripMs": 900}
    }
    after = {
        "a>b": {
            "sent": 300,
            "received": 150,
            "durationMs": 2000,
            "queueSize": 150,
            "queueTimeMs": 2500,
            "roundTripMs": 4900,
        },
        "b>c": {"sent": 10},
    }
    found = edge_rates(before, after, 2.0)
    ab = found["a>b"]
    assert ab.request_rate == 100
    assert ab.processing_rate == 50
    assert ab.queue_size == 150
    assert ab.per_replica_rate == 100  # 100 processed in 1 s of processing time
    assert ab.processing_ms == 10
    assert ab.queue_ms == 20 and ab.round_trip_ms == 40  # means over the 100 received meanwhile
    assert found["b>c"].request_rate == 5 and found["b>c"].per_replica_rate == 0
    assert incoming(found, "b") == (ab,)


def test_wanted_is_request_rate_over_replica_rate() -> None:
    assert decide(node(1, rates(300, 100)), 0) == Decision(3, up=2)


def test_queue_counts_as_demand() -> None:
    # 100/s requested, 1000 queued to drain in 10 s: 200/s over 100/s per replica
    assert decide(node(1, rates(100, 100, queue=1000)), 0) == Decision(2, up=1)


def test_at_most_ten_new_per_tick_and_bounded_by_room_and_max() -> None:
    assert decide(node(1, rates(10_000, 10)), 0).up == 10
    assert decide(node(1, rates(10_000, 10), room=3), 0).up == 3
    assert decide(node(1, rates(10_000, 10), maximum=4), 0) == Decision(4, up=3)
    assert decide(node(4, rates(10_000, 10), maximum=4), 0) == Decision(4)
    assert decide(node(1, rates(300, 100), room=0), 0) == Decision(3, up=0)


def test_idle_goes_back_to_minimum_at_least_one() -> None:
    assert decide(node(5, rates(0, 0)), 100) == Decision(1, down=4)
    assert decide(node(5, rates(0, 0), minimum=2), 100) == Decision(2, down=3)
    assert decide(node(1, rates(0, 0), minimum=0), 100) == Decision(1)


def test_scale_down_hysteresis() -> None:
    config = ScaleConfig(down_every=30)
    assert decide(node(5, rates(0, 0), last_down=90.0), 100, config) == Decision(1)
    assert decide(node(5, rates(0, 0), last_down=60.0), 100, config) == Decision(1, down=4)
    assert decide(node(5, rates(0, 0), last_down=95.0), 100, ScaleConfig(down_every=1)).down == 4


def test_no_scale_down_while_queue_waits() -> None:
    assert decide(node(5, rates(10, 100, queue=5)), 100) == Decision(1)


def test_unmeasured_replica_rate_keeps_the_count() -> None:
    assert decide(node(2, rates(50, 0)), 0) == Decision(2)
    # processed but no processing time counted: the processing rate per replica
    assert decide(node(2, rates(400, 0, processing=200)), 0) == Decision(4, up=2)
