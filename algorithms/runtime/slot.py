"""The server side of one algorithm's WebSocket connection (a session's *slot*).

Accepts the algorithm's client on the session's private path, reads what it announces in its
connection query (encoding, storage mode, pipelining), refuses a second client where the session
says so, and lets the task thread wait for a (re)connect. ``session.AlgorithmSession`` builds on
it; everything here runs under the session's ``_changed`` condition where it says so.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.protocol import State
from websockets.sync.server import Server, ServerConnection, serve

from . import protocol as p


class ConnectionSlot:
    """The connection half of a session: its state is set up by the session's ``__init__``."""

    host: str
    port: int
    connect_timeout: float
    storage_mode: str | None
    encoding: str | None
    pipelined: bool
    file_values: bool
    stream_batch: bool
    _path: str
    _changed: threading.Condition
    _conn: ServerConnection | None
    _codec: p.Codec
    _start_frame: p.Frame
    _connect_error: str | None
    _broken: str | None
    _closed: bool
    _exited: threading.Event
    _server: Server | None
    max_message_size: int

    def _spawn_thread(self, target: Callable[..., None], name: str, *args: object) -> threading.Thread:
        raise NotImplementedError

    def _listen(self, host: str, port: int) -> Server:
        """Serve the slot on ``host:port`` (port 0: any free one, then in :attr:`port`).

        No compression (loopback, or a pod's localhost: deflate would only cost CPU) and no
        pings: liveness comes from the process watcher, and a developer's process paused at a
        breakpoint must not count as gone (HKube's debug ingress allows 50000 s of silence)."""
        if self._server is not None:
            raise RuntimeError("session already started")
        self._server = server = serve(
            self._handle,
            host,
            port,
            max_size=self.max_message_size,
            compression=None,
            ping_interval=None,
            server_header=None,
        )
        self.port = server.socket.getsockname()[1]
        self._spawn_thread(server.serve_forever, "serve")
        return server

    @property
    def alive(self) -> bool:
        raise NotImplementedError

    def _started(self) -> bool:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """Where the server listens, ``ws://host:port/path`` (the port is known once started)."""
        return f"ws://{self.host}:{self.port}{self._path}"

    @property
    def connected(self) -> bool:
        """Whether a client is connected now."""
        conn = self._conn
        return conn is not None and conn.state is State.OPEN

    def _handle(self, conn: ServerConnection) -> None:
        request = conn.request
        url = urlsplit(request.path if request is not None else "")
        if url.path != self._path:
            conn.close(1008, "unknown algorithm slot")
            return
        query = parse_qs(url.query)
        try:
            codec = p.get_codec(query.get("encoding", [p.DEFAULT_ENCODING])[0])
        except (ValueError, p.CodecUnavailableError) as exc:
            with self._changed:
                self._connect_error = str(exc)
                self._changed.notify_all()
            conn.close(1003, "unsupported encoding")
            return
        with self._changed:
            if self._refuses_another():
                refused = True
            else:
                refused = False
                self._set_connection(conn, codec, query)
        if refused:
            # HKube's wrapper exits on this message; without it, it would retry every 0.1 s.
            with contextlib.suppress(ConnectionClosed):
                conn.send(codec.encode({"command": "alreadyConnectedError", "data": {"hostname": self.host}}))
            conn.close(4001, "alreadyConnectedError")
            return
        conn.wait_closed()  # returning would close the connection

    def _refuses_another(self) -> bool:
        """Whether a new connection is refused (holds ``_changed``): never here, a reconnecting
        wrapper replaces its old connection."""
        return False

    def _set_connection(self, conn: ServerConnection, codec: p.Codec, query: dict[str, list[str]]) -> None:
        """Holds ``_changed``."""
        self._codec = codec
        self._start_frame = codec.encode({"command": p.START, "data": {"spanId": None}})
        self.encoding = codec.name
        # HKube treats anything but v3 as v1 (protocol reference §1.2).
        self.storage_mode = "v3" if query.get("storage", [p.DEFAULT_STORAGE_MODE])[0] == "v3" else "v1"
        self.pipelined = query.get("pipelined", ["0"])[0] == "1"
        # Our Python wrapper reads and writes big values as files itself (runtime/file_values.py).
        self.file_values = query.get("files", ["0"])[0] == "1"
        # Our wrappers take and answer a stream task's messages many per frame (streams/relay.py).
        self.stream_batch = query.get("streamBatch", ["0"])[0] == "1"
        self._conn = conn
        self._changed.notify_all()

    def _connected_or_over(self) -> bool:
        conn = self._conn
        return (
            (conn is not None and conn.state is State.OPEN)
            or self._exited.is_set()
            or self._connect_error is not None
            or self._closed
        )

    def _connection(self) -> ServerConnection | None:
        """The open connection, waiting for a reconnect if the wrapper dropped it while idle."""
        conn = self._conn
        if conn is not None and conn.state is State.OPEN and self._broken is None:
            return conn
        if not self._started():
            raise RuntimeError("session not started; call start() first")
        with self._changed:
            self._changed.wait_for(self._connected_or_over, self.connect_timeout)
            conn = self._conn
        if self.alive and conn is not None and conn.state is State.OPEN:
            return conn
        return None
