"""The stream transport against a real Redis: order per edge, at-least-once with a dead
replica's messages taken over, de-duplication, back-pressure and the dropped count."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis

from algorithms.runtime.streams import transport
from algorithms.runtime.streams.transport import Consumer, Producer
from hkube_site.redis_client import StreamKeys, stream_keys


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def keys() -> StreamKeys:
    return stream_keys(f"job-{uuid.uuid4().hex[:8]}")


def _drain(consumer: Consumer, want: int, timeout: float = 10.0) -> list[transport.Message]:
    got: list[transport.Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        batch = consumer.receive(count=500, block_ms=50)
        fresh, duplicates = consumer.split(batch)
        consumer.done(duplicates, duplicate=True)
        consumer.done(fresh, 1.0)
        got += fresh
    return got


def test_messages_arrive_in_order_once_with_flow_origin_and_counters(
    client: redis.Redis, keys: StreamKeys
) -> None:
    sink = Consumer(client, keys, "sink", ["source"], "sink-0")
    producer = Producer(client, keys, "source")
    for n in range(1000):
        assert producer.send(["sink"], {"n": n}, f"source:{n}", "main") == []
    got = _drain(sink, 1000)
    assert [m.payload["n"] for m in got] == list(range(1000))
    assert {(m.flow, m.origin, m.source) for m in got} == {("main", "source", "source")}
    stats = transport.statistics(client, keys)["source>sink"]
    assert stats["sent"] == 1000 and stats["received"] == 1000
    assert stats["queueSize"] == 0 and stats["bytes"] == 0 and stats["durationMs"] > 0
    # Send to read, and send to acknowledgement, summed: every message waited, none for ages.
    assert 0 < stats["queueTimeMs"] <= stats["roundTripMs"] < 1000 * 60_000


def test_a_dead_replicas_pending_messages_are_taken_over_and_duplicates_dropped(
    client: redis.Redis, keys: StreamKeys
) -> None:
    producer = Producer(client, keys, "a")
    dying = Consumer(client, keys, "b", ["a"], "b-0")
    live = Consumer(client, keys, "b", ["a"], "b-1", claim_idle_ms=200, claim_every_seconds=0.1)
    for n in range(10):
        producer.send(["b"], n, f"a:{n}", None)
    taken = dying.receive(count=4, block_ms=10)  # read, never acknowledged: the replica dies
    assert [m.payload for m in taken] == [0, 1, 2, 3]
    # The same message sent again (a producer that re-ran after its own crash) is dropped.
    producer.send(["b"], 5, "a:5", None)
    time.sleep(0.3)
    got = _drain(live, 10)
    assert sorted(m.payload for m in got) == list(range(10))
    assert transport.statistics(client, keys)["a>b"]["queueSize"] == 0


def test_a_restarted_replica_reads_its_own_pending_messages_first(
    client: redis.Redis, keys: StreamKeys
) -> None:
    producer = Producer(client, keys, "a")
    first = Consumer(client, keys, "b", ["a"], "b-0")
    for n in range(5):
        producer.send(["b"], n, f"a:{n}", None)
    assert len(first.receive(count=3, block_ms=10)) == 3
    again = Consumer(client, keys, "b", ["a"], "b-0")  # same consumer name: the task restarted
    assert [m.payload for m in again.receive(count=10, block_ms=10)] == [0, 1, 2]


def test_a_full_buffer_blocks_the_producer_then_drops_and_counts(
    client: redis.Redis, keys: StreamKeys
) -> None:
    Consumer(client, keys, "b", ["a"], "b-0")
    producer = Producer(client, keys, "a", max_buffer_bytes=2000, block_seconds=0.2)
    payload = "x" * 500
    sent = [producer.send(["b"], payload, f"a:{n}", None) for n in range(4)]
    assert sent == [[], [], [], []]  # the fourth fills it past 2000 bytes
    began = time.monotonic()
    assert producer.send(["b"], payload, "a:4", None) == ["b"]
    assert time.monotonic() - began >= 0.2  # back-pressure first
    stats = transport.statistics(client, keys)["a>b"]
    assert stats["dropped"] == 1 and stats["sent"] == 4 and stats["queueSize"] == 4


def test_back_pressure_releases_when_the_receiver_catches_up(client: redis.Redis, keys: StreamKeys) -> None:
    consumer = Consumer(client, keys, "b", ["a"], "b-0")
    producer = Producer(client, keys, "a", max_buffer_bytes=5000, block_seconds=10)
    received: list[int] = []

    def receive() -> None:
        while len(received) < 200:
            batch = consumer.receive(count=10, block_ms=20)
            time.sleep(0.002)
            consumer.done(batch)
            received.extend(m.payload["n"] for m in batch)

    thread = threading.Thread(target=receive)
    thread.start()
    for n in range(200):
        assert producer.send(["b"], {"n": n, "pad": "y" * 200}, f"a:{n}", None) == []
    thread.join(20)
    assert received == list(range(200))
    assert transport.statistics(client, keys)["a>b"].get("dropped", 0) == 0


def test_remove_job_deletes_every_key(client: redis.Redis, keys: StreamKeys) -> None:
    consumer = Consumer(client, keys, "b", ["a"], "b-0")
    Producer(client, keys, "a").send(["b"], 1, "a:1", None)
    consumer.done(consumer.receive(block_ms=10))
    transport.remove_job(client, keys, ["a", "b"])
    assert client.keys(keys.prefix + "*") == []


def test_gc_deletes_a_jobs_stream_keys(real_redis: redis.Redis) -> None:
    from hkube_site import redis_client

    keys = stream_keys("job-gc")
    Consumer(real_redis, keys, "b", ["a"], "b-0")
    Producer(real_redis, keys, "a").send(["b"], 1, "a:1", None)
    assert redis_client.delete_stream_keys("job-gc") == 3  # the stream, the edge set, the counters
    assert real_redis.keys(keys.prefix + "*") == []


def test_send_many_is_one_batch_in_order_with_drops_per_message(
    client: redis.Redis, keys: StreamKeys
) -> None:
    consumer = Consumer(client, keys, "b", ["a"], "b-0")
    producer = Producer(client, keys, "a", max_buffer_bytes=10**6)
    batch = [transport.Outgoing(["b"], {"n": n}, f"a:{n}", "main") for n in range(300)]
    assert producer.send_many(batch) == [[] for _ in range(300)]
    assert [m.payload["n"] for m in _drain(consumer, 300)] == list(range(300))
    full = Producer(client, keys, "a", max_buffer_bytes=1, block_seconds=0.05)
    full.send(["b"], "x", "a:x", None)  # now over its 1-byte bound
    assert full.send_many([transport.Outgoing(["b"], n, f"a:y{n}", None) for n in range(2)]) == [["b"], ["b"]]
    assert transport.statistics(client, keys)["a>b"]["dropped"] == 2


def test_big_and_small_messages_through_the_transports_own_client(redis_url: str, keys: StreamKeys) -> None:
    # Its packer sends a command with a big argument the Python way (no copy), others by hiredis.
    client = transport.connect(redis_url)
    packer = transport.CommandPacker()
    big = b"x" * (2 * 1024 * 1024)
    packed = b"".join(bytes(part) for part in packer.pack("SET", "k", big))
    assert packed == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2097152\r\n" + big + b"\r\n"
    sink = Consumer(client, keys, "sink", ["source"], "sink-0")
    producer = Producer(client, keys, "source")
    payloads = [{"n": 0, "pad": big}, {"n": 1}, {"n": 2, "pad": "y" * 100_000}]
    producer.send_many([transport.Outgoing(["sink"], p, f"source:{p['n']}", None) for p in payloads])

    got = _drain(sink, 3)

    assert [m.payload for m in got] == payloads
    assert producer.mean_size > 1024 * 1024 / 3  # what the relay sizes its batches by
    assert transport.statistics(client, keys)["source>sink"]["bytes"] == 0


def test_a_restarted_consumer_reads_each_pending_entry_once_and_bytes_stay_exact(
    client: redis.Redis, keys: StreamKeys
) -> None:
    producer = Producer(client, keys, "a")
    producer.send_many([transport.Outgoing(["b"], {"n": n}, f"a:{n}", None) for n in range(30)])
    dying = Consumer(client, keys, "b", ["a"], "b-0")
    assert len(dying.receive(count=100, block_ms=50)) == 30  # read, never acknowledged: it died

    restarted = Consumer(client, keys, "b", ["a"], "b-0")  # the same consumer name
    got: list[transport.Message] = []
    for _ in range(5):
        got += restarted.receive(count=10, block_ms=50)

    assert [m.payload["n"] for m in got] == list(range(30))  # each pending entry once
    restarted.done(got, 1.0)
    restarted.done(got[:5], duplicate=True)  # copies of entries already acknowledged and deleted
    stats = transport.statistics(client, keys)["a>b"]
    assert stats["bytes"] == 0 and stats["received"] == 30 and stats["queueSize"] == 0
