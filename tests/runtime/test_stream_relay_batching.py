"""The relay's batched sends (algorithms/runtime/streams/relay.py), with a fake producer."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from algorithms.runtime.streams.relay import Relay
from algorithms.runtime.streams.transport import Consumer, Message, Outgoing, Producer

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


class HeldConsumer:
    """Hands out a batch of one message per read, and records the reads."""

    sources = ["src"]

    def __init__(self) -> None:
        self.reads = 0
        self.done_batches: list[list[Any]] = []

    def receive(self, count: int = 100, block_ms: int = 100) -> list[Message]:
        self.reads += 1
        n = self.reads
        return [Message("src", f"{n}-0", f"src.0:{n}", None, "src", {"n": n}, 10)]

    def split(self, batch: list[Message]) -> tuple[list[Message], list[Message]]:
        return batch, []

    def done(self, messages: list[Message], duration_ms: float = 0.0, *, duplicate: bool = False) -> None:
        if messages and not duplicate:
            self.done_batches.append(list(messages))


def test_the_relay_reads_one_batch_ahead_and_no_more() -> None:
    consumer = HeldConsumer()
    frames: list[dict[str, Any]] = []
    held = Relay(
        node="double", run="0.1", flows=FLOWS, default_flow="main", producer=None,
        consumer=cast(Consumer, consumer), send=lambda frame: frames.append(frame) or True,
    )  # fmt: skip
    held.start()
    time.sleep(0.5)  # the algorithm never answers its first message

    assert consumer.reads == 2  # the batch in flight and the one read ahead
    assert len(frames) == 1 and consumer.done_batches == []
    first = frames[0]["data"]["sendMessageId"]
    held.on_event({"command": "streamingInMessageDone", "data": {"sendMessageId": first}})
    time.sleep(0.5)  # now the second is in flight and a third was read ahead
    assert consumer.reads == 3 and len(frames) == 2
    assert [m.payload for m in consumer.done_batches[0]] == [{"n": 1}]
    held.close()
