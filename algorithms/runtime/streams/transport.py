"""Messages between the nodes of a stream job, over Redis Streams (docs/streaming.md).

One Redis stream per job and edge (``source>target``); the target node's replicas read it as
one consumer group named after the node, each replica a consumer. A receiver reads in
batches (``XREADGROUP``), and acknowledges a message (``XACK`` + ``XDEL``) only after it was
processed and its outputs sent, so a replica that dies leaves its messages pending: a live
replica takes them over (``XAUTOCLAIM`` after ``claim_idle_ms``), and a restarted one reads its
own pending messages first. That is at-least-once; the receiver drops a message whose id it
already processed (a Redis set per target node), and ids are deterministic (a source numbers
its messages, a forwarded output is named after its input), so the sink sees each message
once. A producer learns the edge's buffered bytes with each send; above ``max_buffer_bytes``
it waits (back-pressure) up to ``block_seconds``, then drops the message and counts it.

Per-edge counters (``sent``, ``received``, ``dropped``, ``bytes`` buffered, ``durationMs``
spent processing, ``queueSize`` read at the time) live in one hash per job: ``statistics``.

Plain Python (redis-py and msgpack); every key comes from a ``Keys`` object, which the
platform builds in ``hkube_site/redis_client.py`` (``stream_keys``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgpack
import redis
from redis._parsers.encoders import Encoder
from redis.connection import HiredisRespSerializer, PythonRespSerializer
from redis.utils import HIREDIS_AVAILABLE

DEFAULT_MAX_BUFFER_BYTES = 1500 * 1024 * 1024  # HKube's STREAMING_MAX_BUFFER_MB default
COUNTERS = ("sent", "received", "dropped", "bytes", "durationMs", "queueTimeMs", "roundTripMs")


class Keys(Protocol):
    """The Redis keys of one job's transport (``hkube_site.redis_client.StreamKeys``)."""

    @property
    def job_id(self) -> str: ...

    def edge(self, source: str, target: str) -> str: ...

    def seen(self, target: str) -> str: ...

    @property
    def stats(self) -> str: ...

    @property
    def edges(self) -> str: ...


@dataclass
class Message:
    """One message as a receiver gets it: ``payload`` decoded, ``flow`` the flow name it follows."""

    source: str
    entry_id: str
    message_id: str
    flow: str | None
    origin: str
    payload: Any
    size: int
    read_at: float = 0.0  # when this receiver read it (time.time())

    @property
    def sent_at(self) -> float:
        """When it was added to its stream: a Redis entry id is ``<milliseconds>-<n>``."""
        return int(self.entry_id.partition("-")[0]) / 1000.0


BIG_ARGUMENT = 6000  # bytes: redis-py's own cut-off for sending an argument without a copy


class CommandPacker:
    """How the transport's client writes commands: hiredis (when installed) packs small ones
    fastest, but copies a big argument slowly (about 1.4 ms per MiB); redis-py's Python packer
    sends a big one as it is. So a command with a big message goes the Python way."""

    def __init__(self) -> None:
        encoder = Encoder("utf-8", "strict", False)  # type: ignore[no-untyped-call]
        self._python = PythonRespSerializer(BIG_ARGUMENT, encoder.encode)
        self._hiredis = HiredisRespSerializer() if HIREDIS_AVAILABLE else None

    def pack(self, *args: Any) -> list[bytes | memoryview]:
        fast = self._hiredis
        if fast is None or any(isinstance(a, bytes) and len(a) > BIG_ARGUMENT for a in args):
            return self._python.pack(*args)  # type: ignore[no-any-return,no-untyped-call]
        return fast.pack(*args)  # type: ignore[no-any-return]


#: One packer for every client of the transport (it keeps no state of its own).
PACKER = CommandPacker()


def connect(url: str, **options: Any) -> redis.Redis:
    """A Redis client for the transport (``options`` as ``redis.Redis.from_url`` takes them)."""
    return redis.Redis.from_url(url, command_packer=PACKER, **options)


def edge_name(source: str, target: str) -> str:
    return f"{source}>{target}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _as_message(source: str, entry_id: Any, fields: dict[Any, Any], read_at: float = 0.0) -> Message:
    data = fields.get(b"d", b"")
    flow = fields.get(b"f")
    return Message(
        source=source,
        entry_id=_text(entry_id),
        message_id=_text(fields.get(b"i", b"")),
        flow=_text(flow) if flow else None,
        origin=_text(fields.get(b"o", source)),
        payload=msgpack.unpackb(data, raw=False) if data else None,
        size=len(data),
        read_at=read_at,
    )


@dataclass(frozen=True)
class Outgoing:
    """One message to send: to each of ``targets``, along ``flow`` (None: the default)."""

    targets: Sequence[str]
    payload: Any
    message_id: str
    flow: str | None
    origin: str | None = None


@dataclass
class Producer:
    """Sends a node's messages to the streams of its next nodes."""

    client: redis.Redis
    keys: Keys
    node: str
    max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES
    block_seconds: float = 5.0
    poll_seconds: float = 0.005
    mean_size: float = 0.0  # bytes per message in the last send (0: nothing sent yet)
    _buffered: dict[str, int] = field(default_factory=dict)
    _known_edges: set[str] = field(default_factory=set)

    def send(
        self,
        targets: Sequence[str],
        payload: Any,
        message_id: str,
        flow: str | None,
        origin: str | None = None,
    ) -> list[str]:
        """Send one message to each of ``targets``; returns the targets it was dropped for
        (their buffer stayed full for ``block_seconds``). One round trip when no buffer is full."""
        return self.send_many([Outgoing(targets, payload, message_id, flow, origin)])[0]

    def send_many(self, messages: Sequence[Outgoing]) -> list[list[str]]:
        """Send several messages in one round trip (the buffers are checked once, before
        them); returns, per message, the targets it was dropped for."""
        wanted = list(dict.fromkeys(t for m in messages for t in m.targets))
        _, full = self._wait_for_room(wanted)
        dropped = set(full)
        pipe = self.client.pipeline(transaction=False)
        stats = self.keys.stats
        sent: dict[str, int] = {}  # target -> messages added to its stream
        added: dict[str, int] = {}  # target -> their bytes
        lost: dict[str, int] = {}  # target -> messages dropped for it
        packed = 0
        for message in messages:
            data = msgpack.packb(message.payload, use_bin_type=True)
            packed += len(data)
            fields: dict[str, Any] = {"i": message.message_id, "o": message.origin or self.node, "d": data}
            if message.flow:
                fields["f"] = message.flow
            for target in message.targets:
                if target in dropped:
                    lost[target] = lost.get(target, 0) + 1
                    continue
                key = self.keys.edge(self.node, target)
                if key not in self._known_edges:
                    pipe.sadd(self.keys.edges, key)
                    self._known_edges.add(key)
                pipe.xadd(key, fields)  # type: ignore[arg-type]
                sent[target] = sent.get(target, 0) + 1
                added[target] = added.get(target, 0) + len(data)
        # The counters once per edge and batch: the last result per edge is its buffered bytes.
        for target, count in lost.items():
            pipe.hincrby(stats, f"{edge_name(self.node, target)}:dropped", count)
        for target, count in sent.items():
            edge = edge_name(self.node, target)
            pipe.hincrby(stats, f"{edge}:sent", count)
            pipe.hincrby(stats, f"{edge}:bytes", added[target])
        if messages:
            self.mean_size = packed / len(messages)
        results = pipe.execute() if len(pipe) else []
        counted = results[len(results) - 2 * len(sent) :]  # (sent, bytes) per target, in order
        for target, value in zip(sent, counted[1::2], strict=True):
            self._buffered[target] = int(value)
        return [[t for t in m.targets if t in dropped] for m in messages]

    def _wait_for_room(self, targets: Sequence[str]) -> tuple[list[str], list[str]]:
        full = [t for t in targets if self._buffered.get(t, 0) >= self.max_buffer_bytes]
        if not full:
            return list(targets), []
        deadline = time.monotonic() + self.block_seconds
        stats = self.keys.stats
        while True:
            values = self.client.hmget(stats, [f"{edge_name(self.node, t)}:bytes" for t in full])
            for target, value in zip(full, values, strict=True):
                self._buffered[target] = int(value or 0)
            full = [t for t in full if self._buffered[t] >= self.max_buffer_bytes]
            if not full or time.monotonic() >= deadline:
                break
            time.sleep(self.poll_seconds)
        return [t for t in targets if t not in full], full


@dataclass
class Consumer:
    """One replica of a node reading the streams of its incoming edges."""

    client: redis.Redis
    keys: Keys
    node: str
    sources: Sequence[str]
    consumer: str
    claim_idle_ms: int = 10_000
    claim_every_seconds: float = 2.0
    _last_claim: float = 0.0
    # Per stream key, where the reading of this consumer's own pending entries (after a
    # restart) has got to; None once they are all read and new messages are read (``>``).
    _pending_from: dict[str, str] | None = None
    _keys: dict[str, str] = field(default_factory=dict)
    _done_script: Any = None

    def __post_init__(self) -> None:
        self._keys = {self.keys.edge(source, self.node): source for source in self.sources}  # key -> source
        self._pending_from = dict.fromkeys(self._keys, "0")
        self._done_script = self.client.register_script(_DONE_SCRIPT)
        for source in self.sources:
            key = self.keys.edge(source, self.node)
            try:
                self.client.xgroup_create(key, self.node, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self.client.sadd(self.keys.edges, key)

    def receive(self, count: int = 100, block_ms: int = 100) -> list[Message]:
        """Up to ``count`` messages: first this consumer's own pending ones (after a restart),
        then those of replicas idle for ``claim_idle_ms`` (a dead replica), then new ones."""
        if not self.sources:
            time.sleep(block_ms / 1000)
            return []
        while self._pending_from is not None:
            # Each pending entry once: the next read starts after the last one returned.
            before = dict(self._pending_from)
            found = self._read(self._pending_from, count, None, cursor=self._pending_from)
            if found:
                return found
            if self._pending_from == before:
                self._pending_from = None  # every pending entry was read: new ones from now on
        now = time.monotonic()
        if now - self._last_claim >= self.claim_every_seconds:
            self._last_claim = now
            claimed = self._claim(count)
            if claimed:
                return claimed
        return self._read(dict.fromkeys(self._keys, ">"), count, block_ms)

    def _read(
        self,
        starts: dict[str, str],
        count: int,
        block_ms: int | None,
        cursor: dict[str, str] | None = None,
    ) -> list[Message]:
        """``XREADGROUP`` from ``starts`` (stream key -> id); with ``cursor``, each key's last
        entry id returned is written there."""
        reply: Any = self.client.xreadgroup(
            self.node,
            self.consumer,
            dict(starts),  # type: ignore[arg-type]
            count=count,
            block=block_ms,
        )
        found: list[Message] = []
        now = time.time()
        for key, entries in reply or []:
            name = _text(key)
            source = self._keys[name]
            for entry_id, fields in entries:
                if fields:  # an entry deleted while pending comes back empty
                    found.append(_as_message(source, entry_id, fields, now))
                else:
                    self.client.xack(name, self.node, entry_id)
            if cursor is not None and entries:
                cursor[name] = _text(entries[-1][0])
        return found

    def _claim(self, count: int) -> list[Message]:
        found: list[Message] = []
        for source in self.sources:
            key = self.keys.edge(source, self.node)
            reply: Any = self.client.xautoclaim(
                key, self.node, self.consumer, self.claim_idle_ms, "0-0", count=count
            )
            now = time.time()
            for entry_id, fields in reply[1]:
                if fields:
                    found.append(_as_message(source, entry_id, fields, now))
                else:
                    self.client.xack(key, self.node, entry_id)
        return found

    def split(self, messages: Sequence[Message]) -> tuple[list[Message], list[Message]]:
        """``(fresh, duplicates)``: a message is a duplicate when this node processed its id
        before, or when it repeats an id earlier in ``messages`` (one round trip)."""
        if not messages:
            return [], []
        known = self.client.smismember(self.keys.seen(self.node), [m.message_id for m in messages])
        fresh: list[Message] = []
        duplicates: list[Message] = []
        ids: set[str] = set()
        for message, seen in zip(messages, known, strict=True):
            if seen or message.message_id in ids:
                duplicates.append(message)
            else:
                ids.add(message.message_id)
                fresh.append(message)
        return fresh, duplicates

    def done(self, messages: Iterable[Message], duration_ms: float = 0.0, *, duplicate: bool = False) -> None:
        """The messages were processed and their outputs sent: remember their ids, acknowledge
        and delete them, and count them on their edges (one round trip)."""
        items = list(messages)
        if not items:
            return
        pipe = self.client.pipeline(transaction=False)
        stats = self.keys.stats
        seen = self.keys.seen(self.node)
        now = time.time()
        per_edge: dict[str, list[Message]] = {}
        for message in items:
            per_edge.setdefault(message.source, []).append(message)
        if not duplicate:
            pipe.sadd(seen, *(m.message_id for m in items))
        for source, group in per_edge.items():
            key = self.keys.edge(source, self.node)
            edge = edge_name(source, self.node)
            # Acknowledged and deleted; the edge's buffered bytes go down only by the entries
            # this call deleted (a duplicate's entry may be gone already).
            sizes = [value for m in group for value in (m.entry_id, m.size)]
            self._done_script(keys=[key, stats], args=[self.node, f"{edge}:bytes", *sizes], client=pipe)
            if not duplicate:
                pipe.hincrby(stats, f"{edge}:received", len(group))
                pipe.hincrbyfloat(stats, f"{edge}:durationMs", duration_ms)
                # From the send (the entry id's time) to the read, and to now (acknowledged).
                queued = sum(max(0.0, m.read_at - m.sent_at) for m in group if m.read_at)
                pipe.hincrbyfloat(stats, f"{edge}:queueTimeMs", round(queued * 1000, 3))
                trip = sum(max(0.0, now - m.sent_at) for m in group)
                pipe.hincrbyfloat(stats, f"{edge}:roundTripMs", round(trip * 1000, 3))
        pipe.execute()


# KEYS: the stream, the stats hash; ARGV: the group, the bytes field, then (entry id, size) pairs.
_DONE_SCRIPT = """
local ids = {}
for i = 3, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
local freed = 0
for i = 3, #ARGV, 2 do
  if redis.call('XDEL', KEYS[1], ARGV[i]) == 1 then
    freed = freed + tonumber(ARGV[i + 1])
  end
end
if freed > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], -freed)
end
return freed
"""


def statistics(client: redis.Redis, keys: Keys) -> dict[str, dict[str, float]]:
    """Per edge (``"source>target"``): its counters and ``queueSize`` (entries in its stream)."""
    raw = client.hgetall(keys.stats)
    found: dict[str, dict[str, float]] = {}
    for name, value in raw.items():
        edge, _, counter = _text(name).rpartition(":")
        found.setdefault(edge, {})[counter] = float(value)
    pipe = client.pipeline(transaction=False)
    edges = sorted(found)
    for edge in edges:
        source, _, target = edge.partition(">")
        pipe.xlen(keys.edge(source, target))
    for edge, length in zip(edges, pipe.execute(), strict=True):
        found[edge]["queueSize"] = float(length)
    return found


def remove_job(client: redis.Redis, keys: Keys, nodes: Iterable[str]) -> None:
    """Delete a job's streams, de-duplication sets and counters."""
    streams = [_text(k) for k in client.smembers(keys.edges)]
    client.delete(*streams, *(keys.seen(n) for n in nodes), keys.stats, keys.edges)
