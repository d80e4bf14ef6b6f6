"""A fake HKube api-server (http.server in a thread) and a runner for the CLI against it."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner, Result

from hkubectl.cli import app

PREFIX = "/hkube/api-server/api/v1/"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def multipart(self) -> dict[str, tuple[str | None, bytes]]:
        """Form fields by name: (filename or None, raw content)."""
        raw = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + self.body
        message = email.message_from_bytes(raw, policy=email.policy.HTTP)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            content = part.get_payload(decode=True)
            fields[str(name)] = (part.get_filename(), content if isinstance(content, bytes) else b"")
        return fields


Reply = tuple[int, Any]
Route = Reply | Callable[[Recorded], Reply]


@dataclass
class FakeHkube:
    url: str = ""
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def on(self, method: str, path: str, status: int, body: Any = None) -> None:
        """Answer `method PREFIX+path` with a fixed status and JSON body."""
        self.routes[(method, PREFIX + path)] = (status, body)

    def on_call(self, method: str, path: str, handler: Callable[[Recorded], Reply]) -> None:
        self.routes[(method, PREFIX + path)] = handler

    def sequence(self, method: str, path: str, replies: list[Reply]) -> None:
        """Answer with each reply in turn, repeating the last one."""
        remaining = list(replies)

        def next_reply(_: Recorded) -> Reply:
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

        self.on_call(method, path, next_reply)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path == PREFIX + path)
        ]


def _handler(fake: FakeHkube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            recorded = Recorded(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers=dict(self.headers.items()),
                body=self.rfile.read(length) if length else b"",
            )
            fake.requests.append(recorded)
            route = fake.routes.get((self.command, parts.path))
            if route is None:
                status, body = (
                    404,
                    {"error": {"code": 404, "message": f"no fake route for {self.command} {parts.path}"}},
                )
            elif callable(route):
                status, body = route(recorded)
            else:
                status, body = route
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_hkube() -> Iterator[FakeHkube]:
    fake = FakeHkube()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME and cwd, so no real .hkuberc leaks into a test."""
    home_dir = tmp_path / "home"
    work = tmp_path / "work"
    home_dir.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home_dir))
    monkeypatch.chdir(work)
    monkeypatch.delenv("HKUBE_ENDPOINT", raising=False)
    return home_dir


@pytest.fixture
def hkubectl(fake_hkube: FakeHkube, home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the CLI in-process against the fake server (found through HKUBE_ENDPOINT)."""
    monkeypatch.setenv("HKUBE_ENDPOINT", fake_hkube.url)
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return run
