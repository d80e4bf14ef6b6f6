"""A platform worker killed mid-task: its message goes back to its queue when a worker of the
same name starts again, not after kombu's visibility timeout (an hour)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from hkube_site import redelivery
from hkube_site import redis_client as rc
from hkube_site.celery import app


@pytest.fixture
def broker(real_redis: redis.Redis, redis_url: str) -> Iterator[redis.Redis]:
    before = app.conf.broker_url
    app.conf.broker_url = redis_url
    yield real_redis
    app.conf.broker_url = before


def test_the_message_a_dead_worker_was_running_goes_back_to_its_queue(broker: redis.Redis) -> None:
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue("hkube-test-redelivery")
        queue.put({"step": 1})
        message = queue.get(timeout=5)  # delivered, never acknowledged: its worker "died"
        assert broker.llen("hkube-test-redelivery") == 0
        rc.note_delivery("engine@test", str(message.delivery_tag))
        rc.note_delivery("engine@other", "not-this-one")

        assert redelivery.restore_deliveries("engine@test") == 1

        assert broker.llen("hkube-test-redelivery") == 1
    assert broker.llen("hkube-test-redelivery") == 1  # once, even as the old channel closes
    assert rc.take_deliveries("engine@test") == []
    assert rc.take_deliveries("engine@other") == ["not-this-one"]


def test_a_task_that_ran_to_its_end_is_forgotten(broker: redis.Redis) -> None:
    rc.note_delivery("engine@test", "t1")
    rc.forget_delivery("engine@test", "t1")
    assert redelivery.restore_deliveries("engine@test") == 0
