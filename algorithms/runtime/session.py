"""One warm algorithm process and the WebSocket server it connects to (HKube's *worker* role).

The algorithm (HKube's ``hkube-python-wrapper``, ``@hkube/nodejs-wrapper`` or our own wrappers under
``algorithms/wrappers``) is the WebSocket client; this module is the server. One session drives one
task at a time over one connection, for as many tasks as the caller wants.

Threads: the websockets server runs in a background thread and hands each connection to the slot's
``_handle``, which only publishes it; ``run_task`` then calls the connection's ``recv`` directly from
the caller's thread, so a message costs one blocking call and no hand-off beyond websockets' own
reader thread. The process (``process.py``) is reaped by a watcher thread, and two reader threads
collect its stdout/stderr (``capture.py``). One task at a time: ``run_task`` must not be called from
two threads at once (``stop`` may be). ``attach.py`` serves an algorithm someone else runs (a debug
client) instead.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.sync.server import Server, ServerConnection

from builds.languages.launch_env import runtime_env

from . import protocol as p
from .capture import LogRecord, OutputCapture

# Re-exported: callers take a session's outcome and start error from here.
from .outcome import AlgorithmStartError as AlgorithmStartError
from .outcome import EventHandler
from .outcome import TaskOutcome as TaskOutcome
from .process import AlgorithmProcess
from .slot import ConnectionSlot

# A task's phase. _WAITING: an attached session waits for its client (attach.py).
_IDLE, _INIT, _RUNNING, _WAITING = 0, 1, 2, 3


class _HandlerFailed(Exception):
    """Carries an exception of the caller's on_event out of run_task untouched."""


class AlgorithmSession(ConnectionSlot):
    """An algorithm process kept warm behind a private WebSocket server on 127.0.0.1.

    ``attach.AttachedSession`` is the same server without a process: it waits for an algorithm
    someone else runs (a developer's IDE) to connect.
    """

    #: Whether tasks are served by a client someone else runs (attach.py), not by our process.
    attach = False

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        *,
        connect_timeout: float = 30.0,
        stop_grace: float = 10.0,
        exit_timeout: float = 5.0,
        inherit_env: bool = True,
        log_lines: int = 10_000,
        max_message_size: int = 2**30,
        slot_id: str | None = None,
        path: str | None = None,
    ) -> None:
        """``env`` is added to the allow-listed part of this process's environment, never its
        secrets (``builds/languages/launch_env.py``), or replaces it with ``inherit_env=False``;
        ``WORKER_SOCKET_URL`` is always set by the session. ``path`` is the server's URL path (a
        random slot by default)."""
        self.command = list(command)
        self.host = "127.0.0.1"
        self.port = 0  # any free port (see :attr:`url`)
        self.env = dict(env or {})
        self.cwd = cwd
        self.connect_timeout = connect_timeout
        self.stop_grace = stop_grace
        self.exit_timeout = exit_timeout
        self.inherit_env = inherit_env
        self.max_message_size = max_message_size
        self.slot_id = slot_id or uuid.uuid4().hex[:12]
        self._path = path or "/" + self.slot_id

        #: Announced by the client in its connection query; None until it connects.
        self.storage_mode: str | None = None
        self.encoding: str | None = None
        self.pipelined = False
        self.file_values = False
        self.stream_batch = False

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a connection arrived or the process exited
        self._server: Server | None = None
        self._proc: AlgorithmProcess | None = None
        self._threads: list[threading.Thread] = []
        self._exited = threading.Event()
        self._conn: ServerConnection | None = None
        self._codec: p.Codec = p.JSON
        self._start_frame: p.Frame = b""
        self._connect_error: str | None = None
        self._broken: str | None = None  # why the session cannot run tasks any more
        self._closed = False

        self._output = OutputCapture(log_lines)

        # Per-task state shared with stop(); guarded by _lock.
        self._phase = _IDLE
        self._task_gen = 0
        self._stop_requested = False
        self._stop_force = False
        self._stop_sent = False
        self._timed_out = False
        self._grace_timer: threading.Timer | None = None

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and the process; return once the process has connected."""
        server = self._listen("127.0.0.1", 0)
        port = self.port
        env = {**runtime_env(), **self.env} if self.inherit_env else dict(self.env)
        env["WORKER_SOCKET_URL"] = f"ws://127.0.0.1:{port}{self._path}"
        try:
            self._proc = AlgorithmProcess(self.command, env, self.cwd, self._output)
        except AlgorithmStartError:
            server.shutdown()
            raise
        self._proc.watch(self._spawn_thread, self._on_exit)
        atexit.register(self.close)

        with self._changed:
            self._changed.wait_for(self._connected_or_over, self.connect_timeout)
            connected = self._conn is not None
        if connected and self._connect_error is None:
            return
        error = self._start_failure()
        self.close()
        raise error

    def close(self) -> None:
        """Ask the algorithm to exit, let it close the socket, then kill its whole process group.

        Idempotent and safe from atexit. HKube's wrapper must close first: closing the server side
        first makes it reconnect during its shutdown and hang (protocol reference §6.1 step 8).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conn = self._conn
        atexit.unregister(self.close)
        proc = self._proc
        if proc is not None and not self._exited.is_set() and conn is not None and conn.state is State.OPEN:
            try:
                conn.send(self._codec.encode({"command": p.EXIT, "data": {"exitCode": 0}}))
            except ConnectionClosed:
                pass
            else:
                conn.wait_closed(self.exit_timeout)
                self._exited.wait(self.exit_timeout)
        self._kill_group()
        if proc is not None:
            self._exited.wait(self.exit_timeout)
        if self._server is not None:
            self._server.shutdown()
        for thread in self._threads:
            thread.join(self.exit_timeout)

    def __enter__(self) -> AlgorithmSession:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        """True while the process runs and tasks can run."""
        return self._proc is not None and not (self._closed or self._broken or self._exited.is_set())

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    def drain_logs(self) -> list[str]:
        """The text of :meth:`drain_log_records`."""
        return [message for _, _, message in self.drain_log_records()]

    def drain_log_records(self) -> list[LogRecord]:
        """The output captured since the last call, oldest first, with the ``logData`` lines the
        wrapper sent (``capture.OutputCapture.drain``)."""
        return self._output.drain()

    # --- tasks -----------------------------------------------------------------------------------

    def run_task(
        self,
        payload: dict[str, Any],
        on_event: EventHandler | None = None,
        timeout: float | None = None,
    ) -> TaskOutcome:
        """Run one task (``initialize`` + ``start``) and wait for its end.

        ``logData`` lines join the captured output (:meth:`drain_log_records`). Messages other than
        the task's own life cycle (progress, spans, code-API requests, alive, servingStatus) go to
        ``on_event``; a dict it returns is sent back as a frame. ``timeout``
        is the task's TTL in seconds: when it passes the task is stopped and reported as 'timeout'.
        """
        began = time.perf_counter()
        conn = self._connection()
        if conn is None:
            return TaskOutcome("crashed", error=self._crash_error(), duration=time.perf_counter() - began)
        codec = self._codec
        encode, decode = codec.encode, codec.decode
        pipelined = self.pipelined
        storing: dict[str, Any] | None = None
        init_replied = pipelined  # pipelined wrappers never make us wait for it
        stopped_seen = False
        with self._lock:
            self._task_gen += 1
            # A stop that came while run_attached waited for its client applies to this task.
            pending_stop = self._phase == _WAITING and self._stop_requested
            self._phase = _INIT
            self._stop_requested = self._stop_force = pending_stop
            self._stop_sent = self._timed_out = False
        try:
            conn.send(encode({"command": p.INITIALIZE, "data": payload}))
            if pipelined:
                # Our wrappers handle messages in order, so start may follow initialize at once.
                self._begin_running(conn, always=True)
            deadline = None if timeout is None else began + timeout
            while True:
                if deadline is None:
                    frame = conn.recv()
                else:
                    try:
                        frame = conn.recv(deadline - time.perf_counter())
                    except TimeoutError:
                        deadline = None
                        self._expire(conn)
                        continue
                message = decode(frame)
                command = message.get("command")
                if command == p.DONE or command == p.ERROR_MESSAGE:
                    if self._phase == _INIT:  # errorMessage answering initialize: never start
                        init_replied = True
                        if self._stop_sent:
                            if stopped_seen:
                                return self._stop_outcome(began, storing)
                            continue
                    if self._finish_unless_stopping():
                        duration = time.perf_counter() - began
                        if command == p.DONE:
                            return TaskOutcome("done", message.get("data"), storing, None, duration)
                        return TaskOutcome("error", None, storing, p.error_of(message), duration)
                elif command == p.STORING:
                    storing = message.get("data")
                elif command == p.INITIALIZED:
                    if self._phase != _INIT:
                        continue
                    init_replied = True
                    if stopped_seen:
                        return self._stop_outcome(began, storing)
                    if not self._begin_running(conn, always=False) and not self._stop_sent:
                        return self._stop_outcome(began, storing)  # stop asked before start went out
                elif command == p.STOPPED:
                    if self._stop_sent:
                        stopped_seen = True
                        if init_replied:
                            return self._stop_outcome(began, storing)
                    # else: a stale reply to a stop that raced with the previous task's end
                elif command == p.STARTED:
                    pass
                elif command == p.LOG_DATA:
                    self._output.add_log_data(message.get("data"))
                elif on_event is not None:
                    try:
                        reply = on_event(message)
                    except BaseException as exc:
                        self._break("the task's event handler failed; algorithm process killed")
                        raise _HandlerFailed from exc
                    if isinstance(reply, dict):
                        conn.send(encode(reply))
        except ConnectionClosed:
            return self._connection_lost(began, storing)
        except _HandlerFailed as failed:
            assert failed.__cause__ is not None
            raise failed.__cause__ from None
        except (ValueError, TypeError, AttributeError) as exc:
            # Undecodable or not a {"command": ...} object: the process's state is unknown.
            self._break(
                f"the algorithm sent a malformed message ({type(exc).__name__}: {exc}); process killed"
            )
            return TaskOutcome("crashed", None, storing, self._crash_error(), time.perf_counter() - began)
        finally:
            with self._lock:
                self._phase = _IDLE
                timer, self._grace_timer = self._grace_timer, None
            if timer is not None:
                timer.cancel()

    def stop(self, force: bool = False, *, task: int | None = None) -> bool:
        """Stop the running task (thread-safe). Returns False when no task is running, or when
        ``task`` (a ``current_task`` number) is given and another task runs.

        The ``run_task`` in progress ends with 'stopped' once the algorithm answers ``stopped``; if it
        does not within ``stop_grace`` seconds its process group is killed (the session is then dead).
        """
        with self._lock:
            if self._phase == _IDLE or (task is not None and task != self._task_gen):
                return False
            self._stop_requested = True
            self._stop_force = self._stop_force or force
            if self._phase == _RUNNING and not self._stop_sent:
                self._send_stop_locked()
            elif self._phase == _WAITING:
                self._changed.notify_all()  # run_attached is waiting for its client: end the wait
        return True

    def kill(self, reason: str) -> None:
        """Kill the process group now (thread-safe); the running task, if any, ends as 'crashed'
        with ``reason`` as its message (the memory watch uses it for HKube's OOM message)."""
        self._break(reason)

    def run(
        self,
        payload: dict[str, Any],
        on_event: EventHandler | None = None,
        timeout: float | None = None,
    ) -> TaskOutcome:
        """Run one task the way this kind of session does: :meth:`run_task` here."""
        return self.run_task(payload, on_event, timeout)

    @property
    def current_task(self) -> int:
        """A number naming the task in progress (read it in ``on_event``; pass it to ``send``)."""
        return self._task_gen

    def send(self, message: dict[str, Any], *, task: int | None = None) -> bool:
        """Send one message to the algorithm from any thread; False when it was not sent.

        For code-API replies that are ready only after ``on_event`` returned (a sub-pipeline's
        end). With ``task`` (a ``current_task`` read during that task) the message goes out only
        while that very task runs: under ``_lock``, which the task's end also takes, so a late
        reply never reaches the next task. Sending while ``run_task``'s thread blocks in ``recv``
        or sends is safe: websockets' sync ``send`` writes a whole unfragmented frame under the
        connection's own mutex (``send_context``; we never fragment).
        """
        frame = self._codec.encode(message)
        with self._lock:
            if task is not None and (task != self._task_gen or self._phase == _IDLE):
                return False
            conn = self._conn
            if conn is None:
                return False
            try:
                conn.send(frame)
            except ConnectionClosed:
                return False  # run_task sees the closed connection itself
        return True

    # --- task helpers (the hot path stays in run_task) -------------------------------------------

    def _begin_running(self, conn: ServerConnection, always: bool) -> bool:
        """Send ``start`` unless a stop came first; send the pending stop right after it."""
        with self._lock:
            if self._stop_requested and not always:
                return False
            conn.send(self._start_frame)
            self._phase = _RUNNING
            if self._stop_requested and not self._stop_sent:
                self._send_stop_locked()
            return True

    def _finish_unless_stopping(self) -> bool:
        # Atomic with stop(): once this returns True no stop frame can go out for this task, so a
        # late stop can never hit the next task.
        with self._lock:
            if self._stop_sent:
                return False
            self._phase = _IDLE
            return True

    def _expire(self, conn: ServerConnection) -> None:
        with self._lock:
            self._timed_out = True
            self._stop_requested = self._stop_force = True
            if not self._stop_sent:
                self._send_stop_locked(conn)

    def _send_stop_locked(self, conn: ServerConnection | None = None) -> None:
        conn = conn or self._conn
        self._stop_sent = True
        timer = threading.Timer(self.stop_grace, self._grace_expired, (self._task_gen,))
        timer.daemon = True
        self._grace_timer = timer
        timer.start()
        if conn is not None:
            with contextlib.suppress(ConnectionClosed):  # run_task sees the closed connection itself
                conn.send(self._codec.encode({"command": p.STOP, "data": {"forceStop": self._stop_force}}))

    def _grace_expired(self, task_gen: int) -> None:
        with self._lock:
            if self._task_gen != task_gen or self._phase == _IDLE:
                return
        self._break(f"the algorithm did not stop within {self.stop_grace:g} s; process group killed")

    def _stop_outcome(self, began: float, storing: dict[str, Any] | None) -> TaskOutcome:
        duration = time.perf_counter() - began
        if self._timed_out:
            error = {"code": "Timeout", "message": "the task ran past its TTL and was stopped"}
            return TaskOutcome("timeout", None, storing, error, duration)
        return TaskOutcome("stopped", None, storing, None, duration)

    def _connection_lost(self, began: float, storing: dict[str, Any] | None) -> TaskOutcome:
        if self._stop_sent:
            return self._stop_outcome(began, storing)
        if not self._exited.wait(2.0):
            # The process lives on without a connection mid-task: its state is unknown, so no
            # further task may run on it.
            self._break("the algorithm closed its connection in the middle of a task; process killed")
        return TaskOutcome("crashed", None, storing, self._crash_error(), time.perf_counter() - began)

    def _crash_error(self) -> dict[str, Any]:
        if self._exited.is_set() and self._proc is not None and self._broken is None:
            message = self._proc.exit_description()
            if self._output.stderr_tail:
                message += "\nlast lines of stderr:\n" + "\n".join(self._output.stderr_tail)
        elif self._broken is not None:
            message = self._broken
        elif self._closed:
            message = "the algorithm session is closed"
        else:
            message = f"the algorithm did not reconnect within {self.connect_timeout:g} s"
        return {"code": "Crashed", "message": message}

    def _break(self, reason: str) -> None:
        if self._broken is None:
            self._broken = reason
        self._kill_group()

    # --- process and streams ---------------------------------------------------------------------

    def _started(self) -> bool:
        return self._proc is not None

    def _start_failure(self) -> AlgorithmStartError:
        proc = self._proc
        assert proc is not None
        if self._connect_error is not None:
            return AlgorithmStartError(f"the algorithm connected but cannot be served: {self._connect_error}")
        if self._exited.is_set():
            return AlgorithmStartError(
                proc.exit_description() + " before connecting to the worker",
                proc.returncode,
                self._output.stderr_tail,
            )
        return AlgorithmStartError(
            f"the algorithm did not connect within {self.connect_timeout:g} s", None, self._output.stderr_tail
        )

    def _on_exit(self) -> None:
        """The process exited (its whole group is killed): wake whoever waits on it."""
        with self._changed:
            self._exited.set()
            self._changed.notify_all()
            conn = self._conn
        if conn is not None and not conn.wait_closed(1.0):
            conn.close_socket()  # someone outside the group still holds it: unblock recv anyway

    def _kill_group(self) -> None:
        if self._proc is not None:
            self._proc.kill_group()

    def _spawn_thread(self, target: Callable[..., None], name: str, *args: object) -> threading.Thread:
        name = f"algorithm-{self.slot_id}-{name}"
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread
