"""The algorithm worker's side of a stream task: messages between the algorithm's WebSocket
and the transport (HKube's v1 streaming path, protocol reference §3-§4).

- Out: the algorithm's ``streamingOutMessage {message, flowName, sendMessageId}`` goes to the
  next nodes of this node in the message's flow: ``flowName`` when given, else the flow of the
  incoming message it answers (``sendMessageId``), else the default flow.
- In: messages read from this node's incoming edges go to the algorithm as
  ``streamingInMessage {payload, origin, sendMessageId}``, ``window`` at a time (1 for a
  wrapper that handles each frame on a thread of its own, as HKube's Python wrapper does;
  more for ours, which handles them in order); the next ones go after their
  ``streamingInMessageDone {sendMessageId}``, so a node sees each edge in order and the
  outputs of a batch leave before it is acknowledged (``Consumer.done``). The outputs of a
  window leave together, one ``Producer.send_many`` round trip; a node's own messages (no
  ``sendMessageId``) leave in order from a sender thread, each round trip taking whatever
  the algorithm sent meanwhile (up to ``OWN_BACKLOG`` queued, then its ``sendMessage`` waits).

Message ids are deterministic: a node's own message is ``<node>.<run>:<n>`` (``run`` is new each
time the algorithm starts), an output is ``<input id>><node>.<k>`` (its k-th output), so an input
processed again after a crash produces the same ids and the next node drops the copies.

Plain Python: ``send`` delivers a frame to the algorithm (``AlgorithmSession.send``).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .transport import Consumer, Message, Outgoing, Producer

log = logging.getLogger(__name__)

OUT_MESSAGE = "streamingOutMessage"
IN_MESSAGE = "streamingInMessage"
IN_MESSAGE_DONE = "streamingInMessageDone"
STOPPING = "stopping"
STATISTICS = "streamingStatistics"
# Ours, many messages per frame, for a wrapper that announced ``streamBatch=1`` (our wrappers):
# ``streamingInMessages {messages: [<streamingInMessage data>...]}`` to it, answered by one
# ``streamingInMessagesDone {sendMessageIds: [...], messages: [<streamingOutMessage data>...]}``
# (the outputs of those messages, sent before the answer counts); and
# ``streamingOutMessages {messages: [...]}``, a node's own messages sent meanwhile.
IN_MESSAGES = "streamingInMessages"
IN_MESSAGES_DONE = "streamingInMessagesDone"
OUT_MESSAGES = "streamingOutMessages"
HANDLED = frozenset({OUT_MESSAGE, IN_MESSAGE_DONE, STOPPING, STATISTICS, OUT_MESSAGES, IN_MESSAGES_DONE})

Flows = Mapping[str, Sequence[Mapping[str, Any]]]


def next_nodes(flows: Flows, flow: str, node: str) -> list[str]:
    """The nodes ``node`` sends to in ``flow`` (HKube's parsedFlow); [] when none."""
    for step in flows.get(flow) or []:
        if step.get("source") == node:
            return [str(n) for n in step.get("next") or []]
    return []


def all_next(flows: Flows, node: str) -> list[str]:
    """Every node ``node`` sends to in some flow (the task's ``childs``), in first-seen order."""
    seen: dict[str, None] = {}
    for flow in flows:
        for name in next_nodes(flows, flow, node):
            seen.setdefault(name)
    return list(seen)


def all_previous(flows: Flows, node: str) -> list[str]:
    """Every node that sends to ``node`` in some flow (its incoming edges)."""
    seen: dict[str, None] = {}
    for steps in flows.values():
        for step in steps:
            if node in (step.get("next") or []):
                seen.setdefault(str(step.get("source")))
    return list(seen)


OWN_BACKLOG = 1000  # a node's own messages queued for sending before its sendMessage waits, at most
OWN_BYTES = 16 * 1024 * 1024  # and about this many bytes of them
READ_BATCH = 300  # messages read from the node's streams at a time, at most
READ_BYTES = 4 * 1024 * 1024  # and about this many bytes (fewer messages when they are big)
READ_SECONDS = 0.1  # and about this much work for the algorithm (fewer when they are slow)
FIRST_READ = 10  # messages in the first read, before their size and pace are known
IN_ORDER_WINDOW = 50  # streamingInMessage frames in flight to a wrapper that keeps their order
INPUT_DELAY_SECONDS = 1.0  # HKube's wrapper drops messages that come before its listener
BATCH_FIELD = "streamBatch"  # in the task's payload: this worker takes streamingOutMessages


def delivery(*, pipelined: bool, batched: bool) -> dict[str, Any]:
    """How a wrapper gets its messages (``Relay`` keywords): our wrappers handle them in order,
    a read batch per frame when they announced ``streamBatch=1``, else ``IN_ORDER_WINDOW``
    frames in flight; HKube's wrapper handles each frame on a thread of its own, so one at a
    time, and only after its listener is registered (``INPUT_DELAY_SECONDS``)."""
    return {
        "batch": READ_BATCH,
        "window": READ_BATCH if batched else IN_ORDER_WINDOW if pipelined else 1,
        "batched": batched,
        "input_delay": 0.0 if pipelined else INPUT_DELAY_SECONDS,
    }


class Relay:
    """One stream task's messages, for as long as its algorithm session runs."""

    def __init__(
        self,
        *,
        node: str,
        run: str,
        flows: Flows,
        default_flow: str,
        producer: Producer | None,
        consumer: Consumer | None,
        send: Callable[[dict[str, Any]], bool],
        batch: int = 100,
        window: int = 1,
        batched: bool = False,
        input_delay: float = 0.0,
        quiet_seconds: float = 1.0,
    ) -> None:
        self.node = node
        self.run = run
        self.flows = flows
        self.default_flow = default_flow
        self.producer = producer
        self.consumer = consumer
        self._send = send
        self.batch = batch
        self.window = max(1, window)
        self.batched = batched
        self._targets: dict[str, list[str]] = {}  # flow -> this node's next nodes in it
        self.input_delay = input_delay
        self.quiet_seconds = quiet_seconds
        self._seq = itertools.count()
        # sendMessageIds unique across tasks: a warm process may still answer an earlier one.
        self._token = uuid.uuid4().hex[:8]
        self._ids = (f"{self._token}-{n}" for n in itertools.count(1))
        self._lock = threading.Condition()
        self._inflight: dict[Any, Message] = {}
        self._outputs: dict[Any, int] = {}
        self._answered: set[Any] = set()
        self._outgoing: list[Outgoing] = []  # outputs of the window in flight, sent as one batch
        # The node's own messages, sent by a thread of their own: whatever the algorithm sent
        # while the previous round trip was out leaves in the next one (no added wait).
        self._own: list[Outgoing] = []
        self._own_ready = threading.Condition()
        self._own_busy = False
        self._sender: threading.Thread | None = None
        self._closed = False
        self._draining = False
        self._paused = False
        self._drained = threading.Event()
        self._thread: threading.Thread | None = None
        self._reading = False
        self._pace = 0.0  # seconds per message in the last batch handled (0: none yet)
        self.stopping_seen = 0
        self.unrouted = 0
        self.stale = 0

    # --- the algorithm's messages (called on the session's run_task thread) ------------------

    def on_event(self, message: Mapping[str, Any]) -> bool:
        """Handle a streaming message from the algorithm; False when ``message`` is not one."""
        command = message.get("command")
        if command not in HANDLED:
            return False
        data = message.get("data")
        if command == OUT_MESSAGE and isinstance(data, Mapping):
            self._out(data)
        elif command == IN_MESSAGE_DONE and isinstance(data, Mapping):
            self._answer([data.get("sendMessageId")])
        elif command in (OUT_MESSAGES, IN_MESSAGES_DONE) and isinstance(data, Mapping):
            for out in data.get("messages") or ():
                if isinstance(out, Mapping):
                    self._out(out)
            answered = data.get("sendMessageIds")
            if command == IN_MESSAGES_DONE and isinstance(answered, list):
                self._answer(answered)
        elif command == STOPPING:
            self.stopping_seen += 1
        return True

    def _answer(self, send_ids: Sequence[Any]) -> None:
        with self._lock:
            # An id not in flight answers an earlier task's message: ignored.
            self._answered.update(i for i in send_ids if i in self._inflight)
            self._lock.notify_all()

    def _next(self, flow: str) -> list[str]:
        targets = self._targets.get(flow)
        if targets is None:
            targets = self._targets[flow] = next_nodes(self.flows, flow, self.node)
        return targets

    def _out(self, data: Mapping[str, Any]) -> None:
        send_id = data.get("sendMessageId")
        with self._lock:
            answering = self._inflight.get(send_id) if send_id is not None else None
            if answering is not None:
                k = self._outputs[send_id] = self._outputs.get(send_id, 0) + 1
        if send_id is not None and answering is None:
            # The output of a message this relay never sent: an earlier task's, on a warm
            # process. That message was not acknowledged, so it is handled again.
            self.stale += 1
            return
        flow_name = data.get("flowName")
        if answering is not None:
            flow = str(flow_name or answering.flow or self.default_flow)
            message_id = f"{answering.message_id}>{self.node}.{k}"
        else:
            flow = str(flow_name or self.default_flow)
            message_id = f"{self.node}.{self.run}:{next(self._seq)}"
        targets = self._next(flow)
        if not targets or self.producer is None:
            self.unrouted += 1
            if flow not in self.flows:
                log.warning("node %s: no such flow %s; message dropped", self.node, flow)
            return
        if answering is not None:
            # An output of a message being handled: it leaves with the window's other outputs,
            # in one round trip, before the window is acknowledged (`_flush`).
            with self._lock:
                self._outgoing.append(Outgoing(targets, data.get("message"), message_id, flow, self.node))
            return
        self._send_own(Outgoing(targets, data.get("message"), message_id, flow, self.node))

    def _send_own(self, message: Outgoing) -> None:
        with self._own_ready:
            # Back-pressure: past OWN_BYTES queued the algorithm's sendMessage waits.
            while (
                len(self._own) >= self._own_limit(OWN_BYTES)
                and self._sender is not None
                and self._sender.is_alive()
            ):
                self._own_ready.wait(0.5)
            self._own.append(message)
            if self._sender is None:
                self._sender = threading.Thread(
                    target=self._own_loop, name=f"stream-out-{self.node}", daemon=True
                )
                self._sender.start()
            self._own_ready.notify_all()

    def _own_limit(self, wanted_bytes: int) -> int:
        """How many of the node's own messages make about ``wanted_bytes``, judging by the size
        of those sent before (their number is bounded by OWN_BACKLOG)."""
        size = self.producer.mean_size if self.producer is not None else 0.0
        return max(1, min(OWN_BACKLOG, int(wanted_bytes // size))) if size else OWN_BACKLOG

    def _own_loop(self) -> None:
        producer = self.producer
        assert producer is not None
        while True:
            with self._own_ready:
                while not self._own and not self._closed:
                    self._own_ready.wait(0.5)
                if not self._own:
                    return  # closed, and everything was sent
                count = self._own_limit(READ_BYTES)
                batch, self._own = self._own[:count], self._own[count:]
                self._own_busy = True
                self._own_ready.notify_all()
            try:
                producer.send_many(batch)
            except Exception:
                log.exception("node %s: sending %d messages failed", self.node, len(batch))
            finally:
                with self._own_ready:
                    self._own_busy = False
                    self._own_ready.notify_all()

    def flush_own(self, timeout: float = 10.0) -> bool:
        """Wait until every message the node sent has left; returns whether they did."""
        deadline = time.monotonic() + timeout
        with self._own_ready:
            while (self._own or self._own_busy) and time.monotonic() < deadline:
                self._own_ready.wait(0.05)
            return not self._own and not self._own_busy

    def _flush(self) -> None:
        with self._lock:
            outgoing, self._outgoing = self._outgoing, []
        if outgoing and self.producer is not None:
            self.producer.send_many(outgoing)

    # --- messages to the algorithm (a thread of its own) --------------------------------------

    def start(self) -> None:
        if self.consumer is None or not self.consumer.sources:
            self._drained.set()
            return
        self._thread = threading.Thread(target=self._input_loop, name=f"stream-in-{self.node}", daemon=True)
        self._thread.start()

    def _input_loop(self) -> None:
        consumer = self.consumer
        assert consumer is not None
        if self.input_delay:
            time.sleep(self.input_delay)
        # The next batch is read while this one is with the algorithm: one read ahead, no more
        # (``slots``: the batch in flight and the one read ahead; a handled batch frees one).
        reads: queue.Queue[list[Message]] = queue.Queue()
        slots = threading.Semaphore(2)
        self._reading = True
        reader = threading.Thread(
            target=self._read_ahead, args=(reads, slots), name=f"stream-read-{self.node}", daemon=True
        )
        reader.start()
        try:
            self._relay_reads(consumer, reads, slots, reader)
        finally:
            self._reading = False

    def _read_ahead(self, reads: queue.Queue[list[Message]], slots: threading.Semaphore) -> None:
        """Read the node's streams into ``reads`` (empty batches too: the drain counts them)
        while reading is on and the relay is neither paused nor closed."""
        consumer = self.consumer
        assert consumer is not None
        by_size = self.batch
        while self._reading and not self._closed and not self._paused:
            if not slots.acquire(timeout=0.1):
                continue
            # A batch is held by this replica until it is handled: about READ_SECONDS of work
            # (other replicas take the rest, and the next node gets outputs soon), judging by
            # the pace so far, and about READ_BYTES judging by the size of the last messages.
            pace = self._pace
            by_time = int(READ_SECONDS / pace) if pace else FIRST_READ
            count = max(1, min(self.batch, by_size, by_time))
            try:
                batch = consumer.receive(count=count, block_ms=100)
            except Exception:
                log.exception("node %s: reading its streams failed", self.node)
                slots.release()
                time.sleep(0.5)
                continue
            if batch:
                mean = sum(m.size for m in batch) / len(batch)
                by_size = int(READ_BYTES // max(mean, 1.0))
            reads.put(batch)

    def _relay_reads(
        self,
        consumer: Consumer,
        reads: queue.Queue[list[Message]],
        slots: threading.Semaphore,
        reader: threading.Thread,
    ) -> None:
        quiet_since: float | None = None
        while not self._closed:
            try:
                batch = reads.get(timeout=0.1)
            except queue.Empty:
                if self._paused and not reader.is_alive():
                    # Released: what was read is handled before the replica stops (no batch
                    # is left pending under a consumer that reads no more).
                    self._finish_reads(consumer, reads)
                    return
                continue
            if not batch:
                slots.release()
                if self._draining:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= self.quiet_seconds:
                        self._reading = False  # no more reads; what the reader holds is handled
                        reader.join(5)
                        self._finish_reads(consumer, reads)
                        self._drained.set()
                        return  # nothing more goes to the algorithm: it is stopped next
                continue
            quiet_since = None
            handled = self._handle(consumer, batch)
            slots.release()
            if not handled:
                return  # the session is gone: the rest stays pending for the next run

    def _finish_reads(self, consumer: Consumer, reads: queue.Queue[list[Message]]) -> None:
        """Handle the batches already read (the relay is about to stop reading)."""
        while not self._closed:
            try:
                batch = reads.get_nowait()
            except queue.Empty:
                return
            if batch and not self._handle(consumer, batch):
                return

    def _handle(self, consumer: Consumer, batch: list[Message]) -> bool:
        """One batch: its duplicates dropped, the rest to the algorithm, then acknowledged;
        False when the session ended first (what was not answered stays pending)."""
        # After the previous batch's done: its ids are in the node's seen set by now.
        fresh, duplicates = consumer.split(batch)
        consumer.done(duplicates, duplicate=True)
        began = time.perf_counter()
        handled: list[Message] = []
        for first in range(0, len(fresh), self.window):
            window = fresh[first : first + self.window]
            answered = self._deliver(window)
            handled += answered
            if len(answered) < len(window):
                break
        took = time.perf_counter() - began
        consumer.done(handled, took * 1000)
        if handled:
            self._pace = took / len(handled)  # seconds per message, the algorithm's pace
        return len(handled) == len(fresh)

    def _deliver(self, messages: list[Message]) -> list[Message]:
        """Send ``messages`` and wait for their answers; returns those answered (all of them
        unless the session ended)."""
        with self._lock:
            numbered: list[tuple[str, Message]] = [(next(self._ids), message) for message in messages]
            for send_id, message in numbered:
                self._inflight[send_id] = message
        sent: list[tuple[str, Message]] = []
        try:
            frames = [
                {"payload": message.payload, "origin": message.origin, "sendMessageId": send_id}
                for send_id, message in numbered
            ]
            if self.batched:
                if self._send({"command": IN_MESSAGES, "data": {"messages": frames}}):
                    sent = numbered
            else:
                for data, numbered_message in zip(frames, numbered, strict=True):
                    if not self._send({"command": IN_MESSAGE, "data": data}):
                        break
                    sent.append(numbered_message)
            with self._lock:
                while not self._closed and any(i not in self._answered for i, _ in sent):
                    self._lock.wait(0.5)
                answered = [m for i, m in sent if i in self._answered]
            self._flush()
            return answered
        finally:
            with self._lock:
                for send_id, _ in numbered:
                    self._inflight.pop(send_id, None)
                    self._outputs.pop(send_id, None)
                    self._answered.discard(send_id)

    # --- the end ------------------------------------------------------------------------------

    def drain(self, timeout: float) -> bool:
        """Keep relaying until this node's streams stay empty for ``quiet_seconds`` (or
        ``timeout``); returns whether they did."""
        self._draining = True
        if self._closed:
            return True
        drained = self._drained.wait(timeout)
        self._paused = True  # no new message goes out: the algorithm is stopped next
        return drained

    def release(self, timeout: float) -> None:
        """Take no new message; wait (up to ``timeout``) for the batch being handled to be
        answered and acknowledged (a replica scaled down)."""
        self._paused = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop relaying (the session ended); an input not answered stays pending."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        with self._own_ready:
            self._own_ready.notify_all()
        if self._sender is not None:
            self._sender.join(10)  # what the node sent before its end still leaves
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
