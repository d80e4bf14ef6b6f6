"""The wrapper's side of the worker protocol: one task at a time, ``start()`` on a worker thread.

The main thread reads frames and handles them in order (so a pipelined ``start`` always follows its
``initialize``); ``start()`` runs on a long-lived worker thread so that ``stop`` and pings are still
read while it runs; ``stop`` waits for ``start()`` on a thread of its own.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
import traceback
from typing import Any

from . import files
from .api import SUB_PIPELINE_REPLIES, HkubeApi
from .codec import Codec
from .loader import Algorithm
from .streaming import run_stateless
from .websocket import ConnectionClosed, HandshakeError, WebSocket

RECONNECT_INTERVAL = 0.1
STREAM_BATCH = "streamBatch"


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream must not fail the task
            stream.flush()


def _is_stream(args: Any) -> bool:
    return isinstance(args, dict) and args.get("kind") == "stream"


def _stateless(args: Any) -> bool:
    return _is_stream(args) and args.get("stateType") == "stateless"


class _Task:
    __slots__ = ("args", "finished", "stopped")

    def __init__(self, args: Any) -> None:
        self.args = args
        self.stopped = False
        self.finished = threading.Event()


class Runner:
    def __init__(
        self,
        url: str,
        algorithm: Algorithm | None,
        load_error: str | None,
        codec: Codec,
        reconnect_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.algorithm = algorithm
        self.load_error = load_error or "the algorithm could not be loaded"
        self.codec = codec
        self.reconnect_timeout = reconnect_timeout
        self.api = HkubeApi(self.send)
        self._ws: WebSocket | None = None
        self._job: Any = None  # the last successful initialize payload, until its start
        self._current: _Task | None = None
        self._state_lock = threading.Lock()  # orders a task's done against a concurrent stop
        self._tasks: queue.SimpleQueue[_Task] = queue.SimpleQueue()
        encode = codec.encode
        self._initialized = encode({"command": "initialized", "data": None})
        self._started = encode({"command": "started", "data": None})
        self._stopped = encode({"command": "stopped", "data": None})

    # --- sending ---------------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> int:
        """Send a message to the worker (thread-safe); dropped while disconnected. Returns the
        frame's size."""
        frame = self.codec.encode(message)
        self._send_frame(frame)
        return len(frame)

    def _send_frame(self, frame: bytes | str) -> None:
        ws = self._ws
        try:
            if ws is None:
                raise ConnectionClosed(1006, "not connected")
            ws.send(frame)
        except ConnectionClosed as exc:
            print(f"hkube_wrapper: a message to the worker was lost: {exc}", file=sys.stderr)

    def _error_frame(self, message: str) -> bytes | str:
        return self.codec.encode({"command": "errorMessage", "error": {"code": "Failed", "message": message}})

    # --- main loop -------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve the worker until ``exit``; returns the process exit code."""
        if not self._connect():
            return 1
        if self.algorithm is not None:
            threading.Thread(target=self._work, name="hkube-start", daemon=True).start()
        decode = self.codec.decode
        while True:
            ws = self._ws
            assert ws is not None
            try:
                frame = ws.recv()
            except ConnectionClosed:
                if self._connect():  # the worker may come back; all state is kept
                    continue
                return 1
            message = decode(frame)
            if not isinstance(message, dict):
                continue
            command = message.get("command")
            if command == "initialize":
                self._on_initialize(message.get("data"))
            elif command == "start":
                self._on_start()
            elif command == "stop":
                threading.Thread(target=self._on_stop, args=(message.get("data"),), daemon=True).start()
            elif command == "exit":
                return self._on_exit(message.get("data"))
            elif command == "streamingInMessage":
                self.api.streaming.on_message(message.get("data"))
            elif command == "streamingInMessages":
                self.api.streaming.on_messages(message.get("data"))
            elif command in SUB_PIPELINE_REPLIES:
                self.api.on_reply(message)
            # Anything else (unknown commands) is ignored, like HKube's wrapper.

    def _connect(self) -> bool:
        self._ws = None
        deadline = time.monotonic() + self.reconnect_timeout
        while True:
            try:
                self._ws = WebSocket.connect(self.url, timeout=2.0)
                return True
            except (OSError, HandshakeError) as exc:
                if time.monotonic() >= deadline:
                    print(
                        f"hkube_wrapper: cannot connect to the worker at {self.url} within "
                        f"{self.reconnect_timeout:g} s ({exc}); exiting",
                        file=sys.stderr,
                    )
                    return False
            time.sleep(RECONNECT_INTERVAL)

    # --- commands --------------------------------------------------------------------------------

    def _on_initialize(self, data: Any) -> None:
        self._job = None
        algorithm = self.algorithm
        if algorithm is None:
            self._send_frame(self._error_frame(self.load_error))
            return
        # Our worker takes a stream task's messages many per frame (streaming.py).
        batch = bool(data.pop(STREAM_BATCH, False)) if isinstance(data, dict) else False
        self.api.streaming.new_task(batch)
        if algorithm.init is not None:
            try:
                algorithm.init(data)
            except BaseException as exc:  # noqa: BLE001 - reported to the worker, traceback on stderr
                traceback.print_exc()
                self._send_frame(self._error_frame(_message(exc)))
                return
        self._job = data
        self._send_frame(self._initialized)

    def _on_start(self) -> None:
        task_args, self._job = self._job, None
        if task_args is None:
            return  # no successful initialize before it (e.g. a pipelined start after a failed init)
        task = _Task(task_args)
        self.api.new_task()
        with self._state_lock:
            self._current = task
        self._send_frame(self._started)
        self._tasks.put(task)

    def _work(self) -> None:
        algorithm = self.algorithm
        assert algorithm is not None
        start, wants_api, api = algorithm.start, algorithm.wants_api, self.api
        while True:
            task = self._tasks.get()
            frames: list[bytes | str] = []
            if not task.stopped:
                try:
                    offer = files.take_offer(task.args)  # big inputs read from their files
                    if _stateless(task.args):
                        run_stateless(api.streaming, start, wants_api, task.args, api)
                        result = None
                    else:
                        result = start(task.args, api) if wants_api else start(task.args)
                        if _is_stream(task.args):
                            api.streaming.settle()
                except BaseException as exc:  # noqa: BLE001 - reported to the worker, traceback on stderr
                    traceback.print_exc()
                    frames = [self._error_frame(_message(exc))]
                    if _is_stream(task.args):
                        api.streaming.flush_own()  # what it sent before failing leaves first
                else:
                    if not task.stopped:  # a stopped task's result is dropped: no file written
                        frames = self._result_frames(result, offer, task.args)
                    result = None
                task.args = None  # a big input is not kept alive until the next task
                _flush_stdio()
            # Sending under the lock keeps 'done' ahead of a concurrent stop's 'stopped' on the wire,
            # so the worker never mistakes a late 'done' for the next task's.
            with self._state_lock:
                if not task.stopped:
                    for frame in frames:
                        self._send_frame(frame)
                if self._current is task:
                    self._current = None
            task.finished.set()

    def _result_frames(self, result: Any, offer: dict[str, Any] | None, args: Any) -> list[bytes | str]:
        """``done`` with the value; or, for a big value the worker offered to take as a file,
        ``storing`` (where it was written) and an empty ``done``."""
        encode = self.codec.encode
        frame: bytes | str | None = None
        try:
            if not (offer is not None and isinstance(result, files.BYTES_TYPES)):
                frame = encode({"command": "done", "data": result})
            storing = files.write_result(offer, args, result, frame)
            if storing is None:
                return [frame if frame is not None else encode({"command": "done", "data": result})]
        except (TypeError, ValueError, OverflowError) as exc:
            return [self._error_frame(f"cannot send the result of start(): {exc}")]
        except OSError as exc:
            return [self._error_frame(f"cannot write the result of start() to storage: {exc}")]
        return [encode({"command": "storing", "data": storing}), encode({"command": "done", "data": None})]

    def _on_stop(self, data: Any) -> None:
        with self._state_lock:
            task = self._current
            if task is not None:
                task.stopped = True  # its result, if any, is dropped
        algorithm = self.algorithm
        streaming = task is not None and _is_stream(task.args)
        if streaming:
            self.api.streaming.drain()  # the messages already here first ('stopping' meanwhile)
        if algorithm is not None and algorithm.stop is not None:
            try:
                algorithm.stop(data)
            except BaseException:  # noqa: BLE001 - the stop still completes, traceback on stderr
                traceback.print_exc()
        self.api.release_all()  # a start() waiting on a sub-pipeline returns, so the stop completes
        if task is not None:
            task.finished.wait()
        self._send_frame(self._stopped)

    def _on_exit(self, data: Any) -> int:
        code = data.get("exitCode", 0) if isinstance(data, dict) else 0
        algorithm = self.algorithm
        if algorithm is not None and algorithm.exit is not None:
            try:
                algorithm.exit(data)
            except BaseException:  # noqa: BLE001 - exiting anyway, traceback on stderr
                traceback.print_exc()
        _flush_stdio()
        ws = self._ws
        if ws is not None:
            ws.close()
        return int(code or 0)
