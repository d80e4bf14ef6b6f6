"""A real S3-compatible server for tests: moto in server mode on 127.0.0.1, a free port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

S3_KEYS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def moto_server() -> Iterator[str]:
    """The endpoint URL of a running moto server, stopped afterwards."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_env(endpoint: str) -> dict[str, str]:
    """The environment that selects S3 storage at `endpoint` (hkube_site.settings' names)."""
    return {
        "HKUBE_STORAGE": "s3",
        "S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": S3_KEYS["access_key"],
        "AWS_SECRET_ACCESS_KEY": S3_KEYS["secret_key"],
        "S3_REGION": S3_KEYS["region"],
    }
