"""The stream transport alone (algorithms/runtime/streams/transport.py): one producer thread,
one consumer thread on one edge, through a Redis started for the run. Prints messages per
second and the send-to-receive latency (p50, p99) for 1 KB messages, sent one per round trip
and 100 per round trip (``send_many``), and the same relay done
with one database row per message (SQLite in WAL mode, a lower bound of a database round
trip) for comparison. Used for the figures in docs/streaming.md.

    python bench/stream_transport.py [--messages 20000] [--size 1024]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

import redis

from algorithms.runtime.streams.transport import Consumer, Outgoing, Producer
from hkube_site import embedded
from hkube_site.redis_client import stream_keys


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99)] * 1000


def redis_streams(client: redis.Redis, count: int, size: int, batch: int) -> tuple[float, float, float]:
    keys = stream_keys(f"bench-{time.time_ns()}")
    consumer = Consumer(client, keys, "b", ["a"], "b-0")
    producer = Producer(client, keys, "a")
    latencies: list[float] = []

    def receive() -> None:
        while len(latencies) < count:
            batch = consumer.receive(count=500, block_ms=100)
            now = time.perf_counter()
            fresh, duplicates = consumer.split(batch)
            latencies.extend(now - m.payload["t"] for m in fresh)
            consumer.done(fresh)
            consumer.done(duplicates, duplicate=True)

    thread = threading.Thread(target=receive)
    thread.start()
    began = time.perf_counter()
    pad = "x" * size
    if batch <= 1:
        for n in range(count):
            producer.send(["b"], {"t": time.perf_counter(), "pad": pad}, f"a:{n}", None)
    else:
        for first in range(0, count, batch):
            now = time.perf_counter()
            last = min(count, first + batch)
            producer.send_many(
                [Outgoing(["b"], {"t": now, "pad": pad}, f"a:{n}", None) for n in range(first, last)]
            )
    thread.join()
    elapsed = time.perf_counter() - began
    return (count / elapsed, *_percentiles(latencies))


def database_rows(path: Path, count: int, size: int) -> tuple[float, float, float]:
    writer = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, t REAL, pad TEXT, done INT DEFAULT 0)")
    reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    latencies: list[float] = []

    def receive() -> None:
        while len(latencies) < count:
            rows = reader.execute("SELECT id, t FROM m WHERE done = 0 ORDER BY id LIMIT 500").fetchall()
            now = time.perf_counter()
            if not rows:
                time.sleep(0.001)
                continue
            latencies.extend(now - t for _, t in rows)
            reader.execute(f"UPDATE m SET done = 1 WHERE id <= {rows[-1][0]}")

    thread = threading.Thread(target=receive)
    thread.start()
    began = time.perf_counter()
    pad = "x" * size
    for _ in range(count):
        writer.execute("INSERT INTO m (t, pad) VALUES (?, ?)", (time.perf_counter(), pad))
    thread.join()
    elapsed = time.perf_counter() - began
    return (count / elapsed, *_percentiles(latencies))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        server = embedded.start_redis(Path(home), persist=False)
        try:
            client = redis.Redis.from_url(server.url)
            for batch in (1, 100):
                rate, p50, p99 = redis_streams(client, args.messages, args.size, batch)
                how = "send per message" if batch == 1 else f"send_many of {batch}"
                print(f"redis streams, {how}: {rate:,.0f} msg/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        finally:
            server.stop()
        rate, p50, p99 = database_rows(Path(home) / "bench.sqlite3", args.messages, args.size)
        print(f"database rows: {rate:,.0f} msg/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
