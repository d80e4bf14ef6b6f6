"""The product's Redis client rides out a Redis restart instead of failing the task it is in."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from hkube_site import embedded
from hkube_site import redis_client as rc


def test_a_command_sent_while_redis_restarts_waits_for_it(tmp_path: Path, settings: object) -> None:
    server = embedded.start_redis(tmp_path / "redis", persist=True)
    settings.REDIS_URL = server.url  # type: ignore[attr-defined]
    rc.client.cache_clear()
    restarted: list[embedded.RedisServer] = []

    def restart() -> None:
        time.sleep(5)  # longer than redis-py's own default retries (3, jittered) last
        restarted.append(embedded.start_redis(tmp_path / "redis", port=server.port, persist=True))

    thread = threading.Thread(target=restart)
    try:
        rc.client().set("before", "1")
        server.stop()
        thread.start()
        started = time.monotonic()
        rc.client().set("during", "2")
        assert time.monotonic() - started >= 4
        thread.join()
        assert rc.client().mget("before", "during") == [b"1", b"2"]
    finally:
        rc.client.cache_clear()
        if thread.is_alive():
            thread.join()
        for running in [*restarted, server]:
            running.stop()
