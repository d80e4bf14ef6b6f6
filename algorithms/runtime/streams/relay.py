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
  outputs of a batch leave before it is acknowledged (``Consumer.done``).

Message ids are deterministic: a node's own message is ``<node>.<run>:<n>`` (``run`` is new each
time the algorithm starts), an output is ``<input id>><node>.<k>`` (its k-th output), so an input
processed again after a crash produces the same ids and the next node drops the copies.

Outputs are collected and sent in one round trip (``Producer.send_many``) every
``flush_every`` seconds (2 ms), when ``flush_size`` wait, and before a batch of inputs is
acknowledged; a full buffer blocks the flush and so the algorithm's next message.

Plain Python: ``send`` delivers a frame to the algorithm (``AlgorithmSession.send``).
"""

from __future__ import annotations

import itertools
import logging
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
HANDLED = frozenset({OUT_MESSAGE, IN_MESSAGE_DONE, STOPPING, STATISTICS})

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
        input_delay: float = 0.0,
        quiet_seconds: float = 1.0,
        flush_every: float = 0.002,
        flush_size: int = 100,
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
        self._closed = False
        self._draining = False
        self._paused = False
        self._drained = threading.Event()
        self._thread: threading.Thread | None = None
        self.stopping_seen = 0
        self.flush_every = flush_every
        self.flush_size = flush_size
        self._out_lock = threading.Lock()
        self._pending_out: list[Outgoing] = []
        self._flusher: threading.Thread | None = None
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
            with self._lock:
                send_id = data.get("sendMessageId")
                if send_id in self._inflight:  # else an answer to an earlier task's message
                    self._answered.add(send_id)
                    self._lock.notify_all()
        elif command == STOPPING:
            self.stopping_seen += 1
        return True

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
        targets = next_nodes(self.flows, flow, self.node)
        if not targets or self.producer is None:
            self.unrouted += 1
            if flow not in self.flows:
                log.warning("node %s: no such flow %s; message dropped", self.node, flow)
            return
        outgoing = Outgoing(targets, data.get("message"), message_id, flow, self.node)
        with self._out_lock:
            self._pending_out.append(outgoing)
            full = len(self._pending_out) >= self.flush_size
        if full:
            self.flush()

    def flush(self) -> None:
        """Send the outputs collected so far, in one round trip (called every ``flush_every``
        seconds, when ``flush_size`` are waiting, and before inputs are acknowledged)."""
        with self._out_lock:  # held while sending: flushes stay in order, back-pressure blocks _out
            pending, self._pending_out = self._pending_out, []
            if pending and self.producer is not None:
                self.producer.send_many(pending)

    def _flush_loop(self) -> None:
        while not self._closed:
            time.sleep(self.flush_every)
            try:
                self.flush()
            except Exception:
                log.exception("node %s: sending its messages failed", self.node)

    # --- messages to the algorithm (a thread of its own) --------------------------------------

    def start(self) -> None:
        if self.producer is not None:
            self._flusher = threading.Thread(
                target=self._flush_loop, name=f"stream-out-{self.node}", daemon=True
            )
            self._flusher.start()
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
        quiet_since: float | None = None
        while not self._closed and not self._paused:
            try:
                batch = consumer.receive(count=self.batch, block_ms=100)
            except Exception:
                log.exception("node %s: reading its streams failed", self.node)
                time.sleep(0.5)
                continue
            if not batch:
                if self._draining:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= self.quiet_seconds:
                        self._drained.set()
                        return  # nothing more goes to the algorithm: it is stopped next
                continue
            quiet_since = None
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
            self.flush()  # the outputs of these inputs leave before they are acknowledged
            consumer.done(handled, (time.perf_counter() - began) * 1000)
            if len(handled) < len(fresh):
                return  # the session is gone: the rest stays pending for the next run

    def _deliver(self, messages: list[Message]) -> list[Message]:
        """Send ``messages`` and wait for their answers; returns those answered (all of them
        unless the session ended)."""
        with self._lock:
            numbered: list[tuple[str, Message]] = [(next(self._ids), message) for message in messages]
            for send_id, message in numbered:
                self._inflight[send_id] = message
        sent: list[tuple[str, Message]] = []
        try:
            for send_id, message in numbered:
                data = {"payload": message.payload, "origin": message.origin, "sendMessageId": send_id}
                if not self._send({"command": IN_MESSAGE, "data": data}):
                    break
                sent.append((send_id, message))
            with self._lock:
                while not self._closed and any(i not in self._answered for i, _ in sent):
                    self._lock.wait(0.5)
                answered = [m for i, m in sent if i in self._answered]
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

    def close(self) -> None:
        """Stop relaying (the session ended); an input not answered stays pending."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        if self._flusher is not None:
            self._flusher.join(5)
        self.flush()  # what the algorithm sent last
