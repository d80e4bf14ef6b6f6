"""A minimal RFC 6455 WebSocket client: standard library only, enough for the HKube worker protocol.

Supports ws:// (no TLS, no extensions), masked text/binary frames, fragmented messages, ping/pong and
the closing handshake. ``send`` may be called from several threads; ``recv`` from one.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_SMALL = 65536  # below this, header and payload go out in one sendall


class ConnectionClosed(Exception):
    """The connection is over (close frame, EOF or a socket error)."""

    def __init__(self, code: int = 1006, reason: str = "") -> None:
        super().__init__(f"connection closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


class HandshakeError(ConnectionError):
    """The server did not accept the WebSocket upgrade."""


_apply_mask: Callable[[bytes, bytes], bytes] | None
try:  # the websockets package's C masking, 100 times faster on big frames, when it is installed
    from websockets.speedups import apply_mask as _apply_mask
except ImportError:  # the wrapper must run in any user environment
    _apply_mask = None


def mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the repeated 4-byte ``key`` (C when available, else one big-integer
    operation, no Python loop)."""
    if _apply_mask is not None:
        return _apply_mask(data, key)
    n = len(data)
    if n == 0:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


class WebSocket:
    """One client connection; build it with :meth:`connect`."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._rfile = sock.makefile("rb")
        self._send_lock = threading.Lock()
        self._close_sent = False
        self.closed = False

    @classmethod
    def connect(cls, url: str, timeout: float = 10.0) -> WebSocket:
        parts = urlsplit(url)
        if parts.scheme != "ws":
            raise ValueError(f"only ws:// URLs are supported, got {url!r}")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sock = socket.create_connection((host, port), timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            key = base64.b64encode(os.urandom(16)).decode()
            request = (
                f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            sock.sendall(request.encode("ascii"))
            ws = cls(sock)
            ws._read_handshake_response(key)
            sock.settimeout(None)
            return ws
        except BaseException:
            sock.close()
            raise

    def _read_handshake_response(self, key: str) -> None:
        status = self._rfile.readline(65536).decode("latin-1").strip()
        headers: dict[str, str] = {}
        while True:
            line = self._rfile.readline(65536)
            if not line:
                raise HandshakeError(f"connection closed during the handshake (status {status!r})")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if status.split(" ")[1:2] != ["101"]:
            raise HandshakeError(f"server refused the WebSocket upgrade: {status!r}")
        expected = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise HandshakeError("server sent a wrong Sec-WebSocket-Accept")

    # --- sending ---------------------------------------------------------------------------------

    def send(self, data: bytes | str) -> None:
        """Send one message: ``str`` as a text frame, ``bytes`` as a binary frame."""
        if isinstance(data, str):
            self._send_frame(TEXT, data.encode())
        else:
            self._send_frame(BINARY, data)

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        key = os.urandom(4)
        body = mask(payload, key)
        try:
            with self._send_lock:
                if n < _SMALL:
                    self._sock.sendall(header + key + body)
                else:
                    self._sock.sendall(header + key)
                    self._sock.sendall(body)
        except OSError as exc:
            self.closed = True
            raise ConnectionClosed(1006, str(exc)) from exc

    # --- receiving -------------------------------------------------------------------------------

    def _read(self, n: int) -> bytes:
        try:
            data = self._rfile.read(n)
        except OSError as exc:
            self.closed = True
            raise ConnectionClosed(1006, str(exc)) from exc
        if len(data) < n:
            self.closed = True
            raise ConnectionClosed(1006, "connection lost")
        return data

    def recv(self) -> bytes | str:
        """The next message (text frames as ``str``); answers pings and closes by itself."""
        fragments: list[bytes] = []
        message_opcode = -1
        while True:
            b1, b2 = self._read(2)
            fin, opcode, length = b1 & 0x80, b1 & 0x0F, b2 & 0x7F
            if length == 126:
                length = int.from_bytes(self._read(2), "big")
            elif length == 127:
                length = int.from_bytes(self._read(8), "big")
            key = self._read(4) if b2 & 0x80 else b""
            payload = self._read(length) if length else b""
            if key:
                payload = mask(payload, key)
            if opcode >= CLOSE:
                self._on_control(opcode, payload)
                continue
            if opcode != CONT:
                message_opcode = opcode
                fragments = [payload]
            elif message_opcode < 0:
                self.abort()
                raise ConnectionClosed(1002, "continuation frame without a message")
            else:
                fragments.append(payload)
            if fin:
                data = fragments[0] if len(fragments) == 1 else b"".join(fragments)
                return data.decode() if message_opcode == TEXT else data

    def _on_control(self, opcode: int, payload: bytes) -> None:
        if opcode == PING:
            self._send_frame(PONG, payload)
        elif opcode == CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            reason = payload[2:].decode(errors="replace")
            if not self._close_sent:
                self._close_sent = True
                with contextlib.suppress(ConnectionClosed):  # the peer may be gone already
                    self._send_frame(CLOSE, payload[:2])
            self.abort()
            raise ConnectionClosed(code, reason)

    # --- closing ---------------------------------------------------------------------------------

    def close(self, code: int = 1000, timeout: float = 2.0) -> None:
        """Closing handshake: send close, wait (briefly) for the server's close, drop the socket."""
        if self.closed:
            return
        try:
            if not self._close_sent:
                self._close_sent = True
                self._send_frame(CLOSE, code.to_bytes(2, "big"))
            self._sock.settimeout(timeout)
            while True:
                self.recv()  # discards data frames until the server's close frame or EOF
        except (ConnectionClosed, OSError):
            pass
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a handshake."""
        self.closed = True
        with contextlib.suppress(OSError):  # not connected any more
            self._sock.shutdown(socket.SHUT_RDWR)
        self._rfile.close()
        self._sock.close()
