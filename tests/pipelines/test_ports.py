"""The algorithms layer answers pipelines through the registered directory; progress keys."""

from __future__ import annotations

import pytest
import redis

from algorithms.directory import Directory
from algorithms.models import Algorithm
from algorithms.runtime.events import task_events
from hkube_site import redis_client as rc
from pipelines import ports, taskspec


def test_the_algorithms_app_registers_its_directory() -> None:
    assert isinstance(ports.get(), Directory)


def test_without_a_directory_pipelines_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_directory", None)

    with pytest.raises(RuntimeError, match="algorithms app"):
        ports.get()


@pytest.mark.django_db
def test_the_directory_knows_existing_algorithms_and_their_versions() -> None:
    Algorithm.objects.create(name="a", descriptor={"downloadFileExt": "csv"}, version="v2")
    Algorithm.objects.create(name="b", descriptor={}, version="v1")
    directory = ports.get()

    assert directory.existing(["a", "b", "nope"]) == {"a", "b"}
    assert directory.current_versions({"a", "nope"}) == {"a": "v2"}
    assert directory.download_extensions(["a", "b"]) == {"a": "csv", "b": "hkube"}


def test_the_directory_routes_debug_nodes_to_their_own_queue() -> None:
    plain = taskspec.stored({"algorithmName": "x", "debug": False})
    debugged = taskspec.stored({"algorithmName": "x", "debug": True})

    assert ports.get().route(plain) == ("algorithm.x", "x")
    assert ports.get().route(debugged) == ("debug.x", "debug:x")


def test_progress_written_by_a_task_is_read_by_its_field(real_redis: redis.Redis) -> None:
    on_event = task_events(taskspec.stored({"jobId": "j1", "nodeName": "B"}), 4)

    on_event({"command": "progress", "data": {"progress": 40, "message": "almost"}})

    report = rc.read_progress("j1")[rc.progress_field("B", 4)]
    assert (report["progress"], report["message"]) == (40, "almost")
    assert real_redis.ttl(rc.PROGRESS_PREFIX + "j1") > 0
