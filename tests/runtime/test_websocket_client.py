"""The Python wrapper's own WebSocket client against the websockets server (RFC 6455 details)."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from websockets.sync.server import ServerConnection, serve

from algorithms.runtime.wrappers import PYTHON_WRAPPER_DIR


def _load_client() -> ModuleType:
    # Loaded from its file: the wrapper is not a package of this project, it runs in algorithm environments.
    spec = importlib.util.spec_from_file_location(
        "hkube_wrapper_websocket", PYTHON_WRAPPER_DIR / "hkube_wrapper" / "websocket.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ws_client = _load_client()
Handler = Callable[[ServerConnection], None]


@pytest.fixture
def server() -> Iterator[Callable[[Handler], str]]:
    servers = []

    def start(handler: Handler) -> str:
        instance = serve(handler, "127.0.0.1", 0, max_size=None, compression=None)
        threading.Thread(target=instance.serve_forever, daemon=True).start()
        servers.append(instance)
        return f"ws://127.0.0.1:{instance.socket.getsockname()[1]}/slot?x=1"

    yield start
    for instance in servers:
        instance.shutdown()


def test_messages_of_every_length_class_go_both_ways(server: Callable[[Handler], str]) -> None:
    def echo(conn: ServerConnection) -> None:
        for message in conn:
            conn.send(message)

    ws = ws_client.WebSocket.connect(server(echo))
    for size in (0, 125, 126, 65535, 65536, 3_000_000):
        ws.send(b"\x00\xff" * (size // 2))
        assert ws.recv() == b"\x00\xff" * (size // 2)
    ws.send("text ✓")
    assert ws.recv() == "text ✓"
    ws.close()


def test_the_request_path_and_query_reach_the_server(server: Callable[[Handler], str]) -> None:
    seen: list[str] = []

    def record(conn: ServerConnection) -> None:
        assert conn.request is not None
        seen.append(conn.request.path)
        conn.send("ok")

    ws = ws_client.WebSocket.connect(server(record))
    assert ws.recv() == "ok"
    assert seen == ["/slot?x=1"]
    ws.close()


def test_a_fragmented_message_is_reassembled(server: Callable[[Handler], str]) -> None:
    def fragments(conn: ServerConnection) -> None:
        conn.send(["frag", "mented ", "text"])
        conn.send([b"\x01", b"\x02\x03"])
        conn.recv()

    ws = ws_client.WebSocket.connect(server(fragments))
    assert ws.recv() == "fragmented text"
    assert ws.recv() == b"\x01\x02\x03"
    ws.close()


def test_pings_are_answered_while_waiting_for_a_message(server: Callable[[Handler], str]) -> None:
    answered = threading.Event()

    def ping(conn: ServerConnection) -> None:
        if conn.ping(b"are you there").wait(5):
            answered.set()
        conn.send("after ping")
        conn.recv()

    ws = ws_client.WebSocket.connect(server(ping))
    assert ws.recv() == "after ping"
    assert answered.is_set()
    ws.close()


def test_a_close_from_the_server_ends_recv_with_its_code(server: Callable[[Handler], str]) -> None:
    def close(conn: ServerConnection) -> None:
        conn.close(4001, "go away")

    ws = ws_client.WebSocket.connect(server(close))
    with pytest.raises(ws_client.ConnectionClosed) as info:
        ws.recv()
    assert (info.value.code, info.value.reason) == (4001, "go away")


def test_a_refused_upgrade_is_a_handshake_error() -> None:
    instance = serve(
        lambda conn: None, "127.0.0.1", 0, process_request=lambda conn, req: conn.respond(403, "no")
    )
    threading.Thread(target=instance.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ws_client.HandshakeError, match="403"):
            ws_client.WebSocket.connect(f"ws://127.0.0.1:{instance.socket.getsockname()[1]}/")
    finally:
        instance.shutdown()


def test_masking_is_its_own_inverse() -> None:
    data = bytes(range(256)) * 3 + b"xyz"
    key = b"\x12\x34\x56\x78"

    assert ws_client.mask(ws_client.mask(data, key), key) == data
    assert ws_client.mask(b"abcd", b"\x00\x00\x00\x00") == b"abcd"
    assert ws_client.mask(b"", key) == b""
