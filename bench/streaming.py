"""Stream pipelines' throughput and latency: source -> stateless -> sink (issue 13).

Ours: three algorithm processes on our Python wrapper, each behind an `AlgorithmSession` with
its `Relay` (the worker's side of a stream task, docs/streaming.md), messages through Redis
Streams. Beside it, in the same run and on the same Redis, the same relay done with plain
Redis Streams: three plain Python processes (XADD; XREADGROUP, XADD, XACK; XREADGROUP, XACK).
For 1 KB and 1 MB messages: messages/s with the source sending as fast as it can (first
message sent to last arrival), per-message latency (send to arrival at the sink, p50 and p99)
with the source paced below capacity (and p50 under the flood, mostly queueing), and ours /
plain. The processes are pinned to two cores when the machine has more.

    python bench/streaming.py [--quick] [--json figures.json] [--database sqlite|postgres]

`--database` is accepted for bench/run_all.py's sake: no database is on this path.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from algorithms.runtime.session import AlgorithmSession, TaskOutcome  # noqa: E402
from algorithms.runtime.streams.relay import BATCH_FIELD, Relay, all_next, all_previous, delivery  # noqa: E402
from algorithms.runtime.streams.transport import Consumer, Producer, connect  # noqa: E402
from algorithms.runtime.wrappers import wrapper_launch  # noqa: E402
from hkube_site import embedded  # noqa: E402
from hkube_site.redis_client import StreamKeys, stream_keys  # noqa: E402

FLOWS = {"main": [{"source": "src", "next": ["double"]}, {"source": "double", "next": ["sink"]}]}
SOURCE = """
import time
stopping = False
def start(args, api):
    global stopping
    stopping = False
    count, size, every = args["input"]
    pad = "x" * size
    for n in range(count):
        api.send_message({"n": n, "t": time.time(), "pad": pad})
        if every:
            time.sleep(every)
    while not stopping:
        time.sleep(0.01)
    return "stopped"
def stop(data):
    global stopping
    stopping = True
"""
RELAY = """
def start(args, api):
    return args["streamInput"]["message"]
"""
SINK = """
import threading, time
def start(args, api):
    wanted = args["input"][0]
    latencies = []
    last = [0.0]
    first = []
    enough = threading.Event()
    def on_message(message, origin):
        now = time.time()
        if not first:
            first.append(message["t"])
        latencies.append(now - message["t"])
        last[0] = now
        if len(latencies) >= wanted:
            enough.set()
    api.register_input_listener(on_message)
    api.start_message_listening()
    enough.wait()
    return {"latencies": latencies, "first": first[0], "last": last[0]}
"""


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


class Task:
    def __init__(
        self,
        session: AlgorithmSession,
        client: redis.Redis,
        keys: StreamKeys,
        node: str,
        state: str,
        data: list[Any],
    ) -> None:
        self.session = session
        parents = all_previous(FLOWS, node)
        self.relay = Relay(
            node=node,
            run="0.1",
            flows=FLOWS,
            default_flow="main",
            producer=Producer(client, keys, node),
            consumer=Consumer(client, keys, node, parents, f"{node}-0"),
            send=session.send,
            **delivery(pipelined=session.pipelined, batched=session.stream_batch),
        )
        self.payload = {
            "jobId": keys.job_id,
            "taskId": f"{node}-0",
            "nodeName": node,
            "kind": "stream",
            "stateType": state,
            "parsedFlow": FLOWS,
            "defaultFlow": "main",
            "childs": all_next(FLOWS, node),
            "parents": parents,
            "input": data,
        }
        if session.stream_batch:
            self.payload[BATCH_FIELD] = True
        self.outcome: TaskOutcome | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.relay.start()
        try:
            self.outcome = self.session.run_task(self.payload, on_event=self.relay.on_event)
        finally:
            self.relay.close()

    def stop(self) -> None:
        deadline = time.monotonic() + 5
        while not self.session.stop() and time.monotonic() < deadline:
            time.sleep(0.05)


def session(folder: Path, name: str, source: str) -> AlgorithmSession:
    target = folder / name
    target.mkdir(parents=True)
    (target / "main.py").write_text(textwrap.dedent(source).lstrip())
    command, env = wrapper_launch("python", target, None)
    started = AlgorithmSession(command, env)
    started.start()
    return started


def ours(url: str, folder: Path, count: int, size: int, every: float = 0.0) -> dict[str, float]:
    client = connect(url)
    keys = stream_keys(f"bench-{uuid.uuid4().hex[:8]}")
    sessions = [
        session(folder, f"{n}-{keys.job_id}", s)
        for n, s in (("sink", SINK), ("relay", RELAY), ("src", SOURCE))
    ]
    try:
        sink = Task(sessions[0], client, keys, "sink", "stateful", [count])
        relay = Task(sessions[1], client, keys, "double", "stateless", [])
        source = Task(sessions[2], client, keys, "src", "stateful", [count, size, every])
        sink.thread.join(600)
        assert sink.outcome is not None and sink.outcome.status == "done", sink.outcome
        result = sink.outcome.result
        source.stop()
        relay.stop()
        p50, p99 = percentiles(result["latencies"])
        return {"messagesPerSecond": count / (result["last"] - result["first"]), "p50Ms": p50, "p99Ms": p99}
    finally:
        for started in sessions:
            started.close()


# --- the baseline: plain Redis Streams, three plain processes --------------------------------------


def _plain_source(url: str, stream: str, count: int, size: int, every: float) -> None:
    client = redis.Redis.from_url(url)
    pad = b"x" * size
    for n in range(count):
        client.xadd(stream, {"n": n, "t": repr(time.time()), "pad": pad})
        if every:
            time.sleep(every)


def _plain_relay(url: str, inbox: str, outbox: str, count: int) -> None:
    client = redis.Redis.from_url(url)
    done = 0
    while done < count:
        reply: Any = client.xreadgroup("relay", "r0", {inbox: ">"}, count=100, block=100)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                client.xadd(outbox, fields)
                client.xack(inbox, "relay", entry_id)
                done += 1


def _plain_sink(url: str, inbox: str, count: int, out: Any) -> None:
    client = redis.Redis.from_url(url)
    latencies: list[float] = []
    first = last = 0.0
    while len(latencies) < count:
        reply: Any = client.xreadgroup("sink", "s0", {inbox: ">"}, count=100, block=100)
        for _, entries in reply or []:
            now = time.time()
            ids = []
            for entry_id, fields in entries:
                first = first or float(fields[b"t"])
                latencies.append(now - float(fields[b"t"]))
                ids.append(entry_id)
            client.xack(inbox, "sink", *ids)
            last = now
    out.put({"latencies": latencies, "first": first, "last": last})


def plain(url: str, count: int, size: int, every: float = 0.0) -> dict[str, float]:
    client = redis.Redis.from_url(url)
    prefix = f"plain-{uuid.uuid4().hex[:8]}"
    first, second = f"{prefix}:a", f"{prefix}:b"
    client.xgroup_create(first, "relay", id="0", mkstream=True)
    client.xgroup_create(second, "sink", id="0", mkstream=True)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    sink = context.Process(target=_plain_sink, args=(url, second, count, results))
    relay = context.Process(target=_plain_relay, args=(url, first, second, count))
    sink.start()
    relay.start()
    time.sleep(1.0)  # both are reading before the first message
    source = context.Process(target=_plain_source, args=(url, first, count, size, every))
    source.start()
    result = results.get(timeout=600)
    for process in (source, relay, sink):
        process.join(30)
    client.delete(first, second)
    p50, p99 = percentiles(result["latencies"])
    return {"messagesPerSecond": count / (result["last"] - result["first"]), "p50Ms": p50, "p99Ms": p99}


def pin_two_cores() -> str:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 2:
        os.sched_setaffinity(0, cpus[:2])  # the algorithm processes and plain processes inherit it
    return f"{min(len(cpus), 2)} cores of {os.cpu_count()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes")
    args = parser.parse_args()
    cores = pin_two_cores()
    # (bytes, messages sent as fast as possible, messages paced, seconds between paced sends)
    sizes = {
        "1KB": (1024, 500, 100, 0.01) if args.quick else (1024, 20_000, 1000, 0.005),
        "1MB": (1024 * 1024, 10, 10, 0.1) if args.quick else (1024 * 1024, 200, 50, 0.1),
    }
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as home:
        server = embedded.start_redis(Path(home), persist=False)
        folder = Path(home) / "algorithms"
        try:
            for label, (size, count, paced, every) in sizes.items():
                mine, base = ours(server.url, folder, count, size), plain(server.url, count, size)
                mine_paced = ours(server.url, folder, paced, size, every)
                base_paced = plain(server.url, paced, size, every)
                rows.append(
                    {
                        "size": label,
                        "messages": count,
                        "flood": {"ours": mine, "plainRedisStreams": base},
                        "paced": {
                            "messages": paced,
                            "every": every,
                            "ours": mine_paced,
                            "plainRedisStreams": base_paced,
                        },
                        "ratio": mine["messagesPerSecond"] / base["messagesPerSecond"],
                    }
                )
        finally:
            server.stop()
    print(f"bench/streaming.py: source -> stateless -> sink, {cores}")
    print("msg/s: the source sends as fast as it can (latency then is mostly queueing: 'loaded');")
    print("p50/p99: latency with the source paced below capacity")
    print(f"{'size':>5} | {'ours msg/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'loaded p50':>10} | "
          f"{'plain msg/s':>11} {'p50 ms':>7} {'p99 ms':>7} {'loaded p50':>10} | ours/plain")  # fmt: skip
    for row in rows:
        cells = []
        for side in ("ours", "plainRedisStreams"):
            flood, paced = row["flood"][side], row["paced"][side]
            cells.append(
                f"{flood['messagesPerSecond']:>10,.0f} {paced['p50Ms']:>7.1f} {paced['p99Ms']:>7.1f} "
                f"{flood['p50Ms']:>10,.0f}"
            )
        print(f"{row['size']:>5} | {cells[0]} | {' ' + cells[1]} | {row['ratio']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"benchmark": "streaming", "cores": cores, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
