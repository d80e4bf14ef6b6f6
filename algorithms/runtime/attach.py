"""Attach mode: a session with no process, serving an algorithm someone else runs.

The server listens on ``host:port`` at ``path`` and waits for the algorithm (a developer's IDE,
see ``algorithms/debug.py``) to connect; tasks go through :meth:`AttachedSession.run_attached`,
which waits for the client and re-sends the task when it reconnects. One client at a time: a
second one is refused with close code 4001 (``alreadyConnectedError``), as HKube's
algorithm-debug does.
"""

from __future__ import annotations

import atexit
import time
from typing import Any

from .outcome import EventHandler, TaskOutcome
from .session import _IDLE, _WAITING, AlgorithmSession

DISCONNECTED = "Disconnected"  # error code of an attached task whose client went away


class AttachedSession(AlgorithmSession):
    attach = True

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str | None = None,
        stop_grace: float = 10.0,
        connect_timeout: float = 30.0,
        max_message_size: int = 2**30,
    ) -> None:
        """Listen on ``host:port`` (port 0: any free port, see :attr:`url`) at ``path``."""
        super().__init__(
            [],
            path=path,
            stop_grace=stop_grace,
            connect_timeout=connect_timeout,
            max_message_size=max_message_size,
        )
        self.host = host
        self.port = port

    def start(self) -> None:
        """Start listening and return at once (the client connects when it likes)."""
        self._listen(self.host, self.port)
        atexit.register(self.close)

    @property
    def alive(self) -> bool:
        """True while the server listens and tasks can run."""
        return self._server is not None and not (self._closed or self._broken)

    def run(
        self,
        payload: dict[str, Any],
        on_event: EventHandler | None = None,
        timeout: float | None = None,
    ) -> TaskOutcome:
        return self.run_attached(payload, on_event, timeout)

    def run_attached(
        self,
        payload: dict[str, Any],
        on_event: EventHandler | None = None,
        timeout: float | None = None,
    ) -> TaskOutcome:
        """Wait for the client, then run the task on it.

        When the client goes away in the middle of the task, wait for it to connect again and send
        the task again (``initialize`` + ``start``), as HKube's algorithm-debug does. ``timeout``
        bounds the whole (waiting included) and ends as 'timeout'; ``stop()`` ends the wait as
        'stopped'. A client that is reconnected while its old ``start`` still runs would answer
        twice: restart the algorithm's process rather than only its connection.
        """
        began = time.perf_counter()
        deadline = None if timeout is None else began + timeout

        def remaining() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.perf_counter())

        with self._lock:
            self._phase = _WAITING
            self._stop_requested = self._stop_force = False
        while True:
            with self._changed:
                self._changed.wait_for(self._attached_or_over, remaining())
                stopped, connected = self._stop_requested, self.connected
                if stopped or not connected or not self.alive:
                    self._phase = _IDLE
            if stopped:
                return TaskOutcome("stopped", duration=time.perf_counter() - began)
            if not self.alive:
                return TaskOutcome("crashed", error=self._crash_error(), duration=time.perf_counter() - began)
            if not connected:
                error = {"code": "Timeout", "message": "no algorithm connected before the task's TTL ran out"}
                return TaskOutcome("timeout", error=error, duration=time.perf_counter() - began)
            outcome = self.run_task(payload, on_event, remaining())
            if outcome.status != "crashed" or not self.alive:
                outcome.duration = time.perf_counter() - began
                return outcome
            with self._lock:  # the client went away: wait for it again
                self._phase = _WAITING
                self._stop_requested = self._stop_force = False

    def _attached_or_over(self) -> bool:
        return self.connected or self._stop_requested or not self.alive

    def _connection_lost(self, began: float, storing: dict[str, Any] | None) -> TaskOutcome:
        if self._stop_sent:
            return self._stop_outcome(began, storing)
        # No process to judge by: run_attached waits for the client to come back.
        error = {"code": DISCONNECTED, "message": "the algorithm disconnected in the middle of a task"}
        return TaskOutcome("crashed", None, storing, error, time.perf_counter() - began)

    def _break(self, reason: str) -> None:
        super()._break(reason)
        conn = self._conn
        if conn is not None:
            conn.close_socket()  # no process to kill: drop the client, so a blocked recv returns

    def _refuses_another(self) -> bool:
        return self.connected  # one client at a time (HKube: alreadyConnectedError, code 4001)

    def _started(self) -> bool:
        return self._server is not None
