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


class Streaming:
    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
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

    # --- the algorithm's API -------------------------------------------------------------------

    def send_message(self, message: Any, flow: str | None = None) -> None:
        data = {
            "message": message,
            "flowName": flow,
            "sendMessageId": getattr(self._local, "send_message_id", None),
        }
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

    def new_task(self) -> None:
        """A new task: the listeners of the one before are dropped, and messages wait for this
        task's ``start_message_listening()`` (they may come before ``initialize``)."""
        self._stopped.clear()
        self._listening.clear()
        self._listeners = []

    def on_message(self, data: Any) -> None:
        """A ``streamingInMessage`` from the worker (called on the reader thread)."""
        with self._lock:
            self._pending += 1
        self._queue.put(data)

    def _dispatch(self) -> None:
        while True:
            data = self._queue.get()
            if data is _STOP:
                return
            self._listening.wait()  # the task's listeners are registered
            payload = data.get("payload") if isinstance(data, dict) else None
            origin = data.get("origin") if isinstance(data, dict) else None
            send_id = data.get("sendMessageId") if isinstance(data, dict) else None
            with self._handling:
                self._local.send_message_id = send_id
                for listener in list(self._listeners):
                    try:
                        listener(payload, origin)
                    except BaseException:  # noqa: BLE001 - a bad message must not end the stream
                        traceback.print_exc()
                self._local.send_message_id = None
                self._send({"command": "streamingInMessageDone", "data": {"sendMessageId": send_id}})
            with self._lock:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.notify_all()

    def settle(self, timeout: float = 1.0) -> None:
        """Wait (a while) for the message being handled to be answered: a stateful ``start``
        that returns because of a message must not overtake that message's answer."""
        if self._handling.acquire(timeout=timeout):
            self._handling.release()

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
