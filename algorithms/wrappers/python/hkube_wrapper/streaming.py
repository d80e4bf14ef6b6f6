"""Stream pipelines in the wrapper (HKube's v1 streaming path over the worker's socket).

- ``send_message(msg, flow=None)`` sends ``streamingOutMessage {message, flowName, sendMessageId}``;
  called from an input listener, ``sendMessageId`` names the message being handled, so the
  worker routes the output along that message's flow when no flow is given.
- ``streamingInMessage {payload, origin, sendMessageId}`` from the worker is queued; once
  ``start_message_listening()`` was called, one thread hands each message to every listener
  registered with ``register_input_listener(fn)`` as ``fn(payload, origin)``, in order, and
  answers ``streamingInMessageDone {sendMessageId}``. Messages that come before listening
  starts wait in the queue.
- A stateless node (``stateType: stateless``) does not run ``start`` once: ``start(args, api)``
  is called once per message with ``args["streamInput"] = {"message", "origin"}`` (the
  task's other fields as at ``initialize``), and its return value is sent on along the
  message's flow (when the node has next nodes), as HKube's Python wrapper does.
- On ``stop`` the queue is drained first, with ``stopping`` sent every second meanwhile.

Many messages per frame when the worker says so (``streamBatch`` in the task, our worker; the
wrapper announced ``streamBatch=1`` when it connected): ``streamingInMessages {messages}`` is
handled in order and answered by one ``streamingInMessagesDone {sendMessageIds, messages}``
carrying the outputs; the node's own messages leave as ``streamingOutMessages {messages}`` from
a sender thread, each frame taking what the algorithm sent meanwhile: about ``FRAME_BYTES`` at
most, judging by the size of the messages before; ``send_message`` waits while about
``BACKLOG_BYTES`` (at most ``OWN_BACKLOG`` messages) wait to be sent.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

Listener = Callable[[Any, Any], Any]
_STOP = object()
UNSENDABLE = (TypeError, ValueError, OverflowError)  # what a codec raises for a value it cannot carry
OWN_BACKLOG = 1000  # own messages waiting to be sent before send_message waits, at most
FRAME_BYTES = 4 * 1024 * 1024  # about this much per streamingOutMessages frame
BACKLOG_BYTES = 16 * 1024 * 1024  # and about this much waiting


class Streaming:
    def __init__(self, send: Callable[[dict[str, Any]], object]) -> None:
        self._send = send
        self._local = threading.local()
        self._listeners: list[Listener] = []
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._handling = threading.Lock()  # held while a message is handled and answered
        self._listening = threading.Event()  # the running task called start_message_listening
        self._batch = False  # the worker takes streamingOutMessages (this task's streamBatch)
        self._own: list[dict[str, Any]] = []
        self._own_ready = threading.Condition()
        self._own_busy = False
        self._own_size = 0.0  # the mean size of an own message sent so far (bytes; 0: unknown)
        self._sender: threading.Thread | None = None

    # --- the algorithm's API -------------------------------------------------------------------

    def send_message(self, message: Any, flow: str | None = None) -> None:
        local = self._local
        send_id = getattr(local, "send_message_id", None)
        data = {"message": message, "flowName": flow, "sendMessageId": send_id}
        outputs = getattr(local, "outputs", None)
        if outputs is not None and send_id is not None:
            outputs.append(data)  # leaves with the answer to the batch being handled
        elif self._batch and send_id is None:
            self._send_own(data)
        else:
            self._send({"command": "streamingOutMessage", "data": data})

    def register_input_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start_message_listening(self) -> None:
        self._listening.set()
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._dispatch, name="hkube-stream-in", daemon=True)
            self._thread.start()

    # --- the runner's side -----------------------------------------------------------------------

    def new_task(self, batch: bool = False) -> None:
        """A new task: the listeners of the one before are dropped, and messages wait for this
        task's ``start_message_listening()`` (they may come before ``initialize``)."""
        self.flush_own()
        self._stopped.clear()
        self._listening.clear()
        self._listeners = []
        self._batch = batch

    def on_message(self, data: Any) -> None:
        """A ``streamingInMessage`` from the worker (called on the reader thread)."""
        with self._lock:
            self._pending += 1
        self._queue.put(data)

    def on_messages(self, data: Any) -> None:
        """A ``streamingInMessages`` frame: its messages are handled together, in order."""
        messages = data.get("messages") if isinstance(data, dict) else None
        if not isinstance(messages, list) or not messages:
            return
        with self._lock:
            self._pending += len(messages)
        self._queue.put(messages)

    def _dispatch(self) -> None:
        while True:
            data = self._queue.get()
            if data is _STOP:
                return
            self._listening.wait()  # the task's listeners are registered
            messages = data if isinstance(data, list) else [data]
            try:
                with self._handling:
                    if isinstance(data, list):
                        self._handle_batch(messages)
                    else:
                        send_id = self._handle(data)
                        self._send({"command": "streamingInMessageDone", "data": {"sendMessageId": send_id}})
            except Exception:  # noqa: BLE001 - the next messages are still handled
                traceback.print_exc()
            finally:
                with self._lock:
                    self._pending -= len(messages)
                    if self._pending == 0:
                        self._idle.notify_all()

    def _handle(self, data: Any) -> Any:
        """Every listener on one message; returns its sendMessageId."""
        payload = data.get("payload") if isinstance(data, dict) else None
        origin = data.get("origin") if isinstance(data, dict) else None
        send_id = data.get("sendMessageId") if isinstance(data, dict) else None
        self._local.send_message_id = send_id
        try:
            for listener in list(self._listeners):
                try:
                    listener(payload, origin)
                except BaseException:  # noqa: BLE001 - a bad message must not end the stream
                    traceback.print_exc()
        finally:
            self._local.send_message_id = None
        return send_id

    def _handle_batch(self, messages: list[Any]) -> None:
        outputs: list[dict[str, Any]] = []
        self._local.outputs = outputs
        try:
            send_ids = [self._handle(data) for data in messages]
        finally:
            self._local.outputs = None
        answer = {
            "command": "streamingInMessagesDone",
            "data": {"sendMessageIds": send_ids, "messages": outputs},
        }
        try:
            self._send(answer)
        except UNSENDABLE:
            # An output the codec cannot carry: each goes alone, the bad ones reported and dropped.
            self._send_each(outputs)
            self._send(
                {"command": "streamingInMessagesDone", "data": {"sendMessageIds": send_ids, "messages": []}}
            )

    def _send_each(self, messages: list[dict[str, Any]]) -> None:
        for data in messages:
            try:
                self._send({"command": "streamingOutMessage", "data": data})
            except UNSENDABLE as exc:
                print(f"hkube_wrapper: a message was not sent, it cannot be encoded: {exc}", file=sys.stderr)

    # --- the node's own messages, many per frame ------------------------------------------------

    def _limit(self, wanted_bytes: int) -> int:
        """How many own messages make about ``wanted_bytes`` (one while their size is unknown)."""
        if not self._own_size:
            return 1
        return max(1, min(OWN_BACKLOG, int(wanted_bytes // self._own_size)))

    def _send_own(self, data: dict[str, Any]) -> None:
        with self._own_ready:
            while len(self._own) >= self._limit(BACKLOG_BYTES):
                self._own_ready.wait(0.5)
            self._own.append(data)
            if self._sender is None:
                self._sender = threading.Thread(target=self._own_loop, name="hkube-stream-out", daemon=True)
                self._sender.start()
            self._own_ready.notify_all()

    def _own_loop(self) -> None:
        while True:
            with self._own_ready:
                while not self._own:
                    self._own_ready.wait()
                count = self._limit(FRAME_BYTES)
                batch, self._own = self._own[:count], self._own[count:]
                self._own_busy = True
                self._own_ready.notify_all()
            size: object = None
            try:
                size = self._send({"command": "streamingOutMessages", "data": {"messages": batch}})
            except UNSENDABLE:
                self._send_each(batch)  # one the codec cannot carry: the others still leave
            except Exception:  # noqa: BLE001 - the sender must live on: send_message waits on it
                traceback.print_exc()
            finally:
                with self._own_ready:
                    if isinstance(size, int) and size > 0:
                        self._own_size = size / len(batch)
                    self._own_busy = False
                    self._own_ready.notify_all()

    def flush_own(self, timeout: float = 30.0) -> None:
        """Wait until the node's own messages have left (before its task's end is sent)."""
        deadline = time.monotonic() + timeout
        with self._own_ready:
            while (self._own or self._own_busy) and time.monotonic() < deadline:
                self._own_ready.wait(0.05)

    def settle(self, timeout: float = 1.0) -> None:
        """Wait (a while) for the message being handled to be answered: a stateful ``start``
        that returns because of a message must not overtake that message's answer; nor its
        own messages still waiting to be sent."""
        if self._handling.acquire(timeout=timeout):
            self._handling.release()
        self.flush_own()

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until every queued message was handled, sending ``stopping`` every second."""
        deadline = time.monotonic() + timeout
        listening = self._listening.is_set()
        while listening:
            with self._lock:
                if self._pending == 0 or time.monotonic() >= deadline:
                    break
            self._send({"command": "stopping", "data": None})
            with self._lock:
                self._idle.wait(1.0)
        self.flush_own()
        self._stopped.set()

    def wait_stopped(self) -> None:
        self._stopped.wait()


def run_stateless(
    streaming: Streaming, start: Callable[..., Any], wants_api: bool, args: Any, api: Any
) -> None:
    """A stateless node's task: ``start`` per message until the task is stopped."""
    base = dict(args) if isinstance(args, dict) else {}
    forward = bool(base.get("childs"))

    def on_message(message: Any, origin: Any) -> None:
        call_args = {**base, "streamInput": {"message": message, "origin": origin}}
        try:
            result = start(call_args, api) if wants_api else start(call_args)
        except BaseException:  # noqa: BLE001 - reported on stderr; the next message still runs
            print(f"hkube_wrapper: stateless start failed on a message from {origin}", file=sys.stderr)
            traceback.print_exc()
            return
        if forward:
            streaming.send_message(result)

    streaming.register_input_listener(on_message)
    streaming.start_message_listening()
    streaming.wait_stopped()
