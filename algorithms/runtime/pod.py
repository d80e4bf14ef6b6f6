"""The worker container's side of a worker pod: serve the algorunner container over the socket.

In Kubernetes mode the algorithm runs in its own container (HKube's `algorunner`: the
algorithm's image with its wrapper), which connects to `ws://localhost:<port>`, so the worker
spawns no process. It listens on `HKUBE_WORKER_SOCKET_PORT` in attach mode (`attach.py`, as
for a debug node) and serves every task of the worker through that one client. When the
algorunner disconnects or exits, its state is lost and nothing here can restart it: the
worker exits non-zero, the pod ends (its Job has backoffLimit 0), the executor finds the worker
gone, puts its in-flight chunk back (the node's retry policy applies) and starts another pod.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from websockets.sync.server import ServerConnection

from algorithms.runtime.attach import AttachedSession
from algorithms.runtime.outcome import TaskOutcome
from algorithms.runtime.runner import Runner
from storage import Storage

if TYPE_CHECKING:
    from algorithms.runtime.session import AlgorithmSession

log = logging.getLogger(__name__)

EXIT_ALGORUNNER_GONE = 3  # the worker container's exit code when its algorunner went away


def exit_worker(reason: str) -> None:
    """End the worker process at once, non-zero (no warm shutdown: there is nothing to finish)."""
    log.error("%s: the worker exits so that its pod ends", reason)
    sys.stderr.flush()
    os._exit(EXIT_ALGORUNNER_GONE)


class PodSession(AttachedSession):
    """Attach mode on the pod's port, at `/` (HKube's wrapper connects to `ws://localhost:3000`).
    `on_gone` runs once when the connected algorunner's connection ends."""

    def __init__(
        self, port: int, *, host: str = "127.0.0.1", on_gone: Callable[[str], None] = exit_worker
    ) -> None:
        super().__init__(host=host, port=port, path="/", stop_grace=30.0, connect_timeout=60.0)
        self.on_gone = on_gone
        self._gone = False

    def _handle(self, conn: ServerConnection) -> None:
        super()._handle(conn)  # returns when this connection closes
        with self._lock:
            ours = self._conn is conn and not self._closed and not self._gone
            self._gone = self._gone or ours
        if ours:
            self._break("the algorunner disconnected")
            with self._changed:
                self._changed.notify_all()  # a task waiting in run_attached ends now
            self.on_gone("the algorunner container disconnected or exited")

    def _connection_lost(self, began: float, storing: dict[str, Any] | None) -> TaskOutcome:
        """No reconnect is awaited in a pod: the task is a crash at once."""
        outcome = super()._connection_lost(began, storing)
        if outcome.status == "crashed":
            self._break("the algorunner disconnected in the middle of a task")
        return outcome


class PodRunner(Runner):
    """A Runner whose every task goes to the pod's algorunner: whatever the version asked, the
    pod runs the image it was created with (the executor creates pods of the current version)."""

    def __init__(self, storage: Storage, worker_id: str, session: PodSession) -> None:
        super().__init__(storage, worker_id)
        self.session = session
        self.session.start()

    def session_for(
        self, algorithm_name: str, version: str, debug: bool = False, stream: bool = False
    ) -> AlgorithmSession:
        assert self.session is not None
        return self.session


def socket_port() -> int | None:
    """`HKUBE_WORKER_SOCKET_PORT` (set in worker pods), None outside a pod."""
    raw = os.environ.get("HKUBE_WORKER_SOCKET_PORT", "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"HKUBE_WORKER_SOCKET_PORT must be a port number, got {raw!r}") from exc
