"""Shared fixtures: a real Redis for in-process tests that need one, a webhook receiver."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from hkube_site import embedded
from tests.http_receiver import Receiver


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HKUBE_TEST_REDIS_URL (its database flushed) or a redis-server started for the session."""
    url = os.environ.get("HKUBE_TEST_REDIS_URL")
    if url:
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    server = embedded.start_redis(Path(tmp_path_factory.mktemp("redis")), persist=False)
    yield server.url
    server.stop()


@pytest.fixture
def real_redis(redis_url: str, settings: object) -> Iterator[redis.Redis]:
    """Point this process's Redis client at the test Redis, emptied."""
    from hkube_site import redis_client

    settings.REDIS_URL = redis_url  # type: ignore[attr-defined]
    redis_client.client.cache_clear()
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    redis_client.client.cache_clear()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver for one test."""
    server = Receiver()
    yield server
    server.close()
