"""`manage.py k8s_supervise` in this process against the fake API (a kubeconfig points the real
client at it): it waits while another instance holds the lock, touching its heartbeat, then
takes over, adopts the Jobs it finds, and frees the lock on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.management import CommandError, call_command

from algorithms.models import Algorithm
from hkube_site import redis_client as rc

from .fakeapi import FakeApi

NS = "hkube"


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi() as server:
        yield server


@pytest.fixture
def environment(api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": api.url}}],
        "users": [{"name": "fake", "user": {"token": "t"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": NS}}],
    }))  # fmt: skip
    beat = tmp_path / "beat"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("HKUBE_K8S_RELEASE", "hk")
    monkeypatch.setenv("HKUBE_SUPERVISOR_HEARTBEAT_FILE", str(beat))
    return beat


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
    return value


@pytest.mark.django_db
def test_it_waits_for_the_lock_then_adopts_and_frees_it_on_sigterm(
    api: FakeApi, environment: Path, real_redis: redis.Redis
) -> None:
    Algorithm.objects.create(name="green", descriptor={"name": "green"}, version="v1")
    labels = {"hkube.io/release": "hk", "hkube.io/component": "worker", "hkube.io/algorithm": "green",
              "hkube.io/worker-id": "green-aaaaa"}  # fmt: skip
    api.put("jobs", {"metadata": {"name": "green-aaaaa", "labels": labels}, "spec": {}, "status": {}}, NS)
    real_redis.set(rc.K8S_SUPERVISOR_LOCK, "another-instance", px=60_000)
    seen: dict[str, Any] = {}

    def drive() -> None:
        eventually(lambda: environment.exists())  # waiting, yet alive for its liveness probe
        seen["calls_while_waiting"] = len(api.calls())
        real_redis.delete(rc.K8S_SUPERVISOR_LOCK)  # the other instance went away
        seen["adopted"] = eventually(lambda: real_redis.hget(rc.WORKERS_KEY, "green-aaaaa"))
        seen["lock"] = real_redis.get(rc.K8S_SUPERVISOR_LOCK)
        os.kill(os.getpid(), signal.SIGTERM)

    driver = threading.Thread(target=drive, daemon=True)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        driver.start()
        call_command("k8s_supervise", "--lease", "0.6")
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    driver.join(timeout=5)
    assert seen["calls_while_waiting"] == 0  # it did not watch the cluster while waiting
    assert json.loads(seen["adopted"])["algorithm"] == "green"
    assert seen["lock"] not in (None, b"another-instance")
    assert real_redis.get(rc.K8S_SUPERVISOR_LOCK) is None  # freed on the way out
    api.drop_watches()


def test_a_missing_release_is_a_command_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HKUBE_K8S_RELEASE", raising=False)
    with pytest.raises(CommandError, match="HKUBE_K8S_RELEASE"):
        call_command("k8s_supervise")
