"""The relay's batched sends (algorithms/runtime/streams/relay.py), with a fake producer."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from algorithms.runtime.streams.relay import Relay
from algorithms.runtime.streams.transport import Outgoing, Producer

FLOWS = {"main": [{"source": "src", "next": ["sink"]}]}


class SlowProducer:
    """Records each round trip; each takes 20 ms."""

    def __init__(self) -> None:
        self.round_trips: list[list[Outgoing]] = []
        self.lock = threading.Lock()
        self.mean_size = 0.0

    def send_many(self, messages: list[Outgoing]) -> list[list[str]]:
        time.sleep(0.02)
        with self.lock:
            self.round_trips.append(list(messages))
        return [[] for _ in messages]


def relay(producer: SlowProducer) -> Relay:
    return Relay(
        node="src", run="0.1", flows=FLOWS, default_flow="main",
        producer=cast(Producer, producer), consumer=None, send=lambda frame: True,
    )  # fmt: skip


def out(n: int) -> dict[str, Any]:
    return {"command": "streamingOutMessage", "data": {"message": {"n": n}}}


def test_own_messages_leave_in_order_several_per_round_trip_and_all_before_close() -> None:
    producer = SlowProducer()
    r = relay(producer)
    for n in range(200):
        assert r.on_event(out(n))
    r.close()  # waits for the sender: nothing the node sent is lost
    sent = [m.payload["n"] for batch in producer.round_trips for m in batch]
    assert sent == list(range(200))
    assert len(producer.round_trips) < 200  # what came during a round trip went in the next
    assert all(m.targets == ["sink"] and m.flow == "main" for b in producer.round_trips for m in b)
    ids = [m.message_id for b in producer.round_trips for m in b]
    assert ids[:2] == ["src.0.1:0", "src.0.1:1"]


def test_flush_own_waits_for_the_sender() -> None:
    producer = SlowProducer()
    r = relay(producer)
    r.on_event(out(1))
    assert r.flush_own(5)
    assert [m.payload for b in producer.round_trips for m in b] == [{"n": 1}]
    r.close()
