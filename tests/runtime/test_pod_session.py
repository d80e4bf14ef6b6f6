"""The worker container's session in a pod: the algorunner connects at `/`; when it goes away
(idle or mid-task) the worker is told to exit, once; a refused second client or the worker's own
shutdown does not count."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from algorithms.runtime.outcome import TaskOutcome
from algorithms.runtime.pod import PodSession, socket_port
from hkube_site import embedded


@pytest.fixture
def gone() -> list[str]:
    return []


@pytest.fixture
def session(gone: list[str]) -> Iterator[PodSession]:
    pod = PodSession(embedded.free_port(), on_gone=gone.append)
    pod.start()
    yield pod
    pod.close()


def wait_for(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_the_algorunner_connects_at_the_root_and_its_disconnect_ends_the_worker(
    session: PodSession, gone: list[str]
) -> None:
    assert session.url == f"ws://127.0.0.1:{session.port}/"
    with connect(f"ws://localhost:{session.port}?encoding=json"):
        wait_for(lambda: session.connected)
        assert session.connected and gone == []
    wait_for(lambda: gone)
    assert gone == ["the algorunner container disconnected or exited"]
    assert not session.alive


def test_a_disconnect_in_the_middle_of_a_task_crashes_it_and_ends_the_worker(
    session: PodSession, gone: list[str]
) -> None:
    box: list[TaskOutcome] = []
    thread = threading.Thread(target=lambda: box.append(session.run({"input": [1]}, timeout=10)), daemon=True)
    thread.start()
    with connect(f"ws://127.0.0.1:{session.port}/?encoding=json") as client:
        assert json.loads(client.recv(timeout=5))["command"] == "initialize"
        client.send(json.dumps({"command": "initialized", "data": None}))
        assert json.loads(client.recv(timeout=5))["command"] == "start"
    thread.join(3)  # well before the task's 10 s TTL: no reconnect is awaited, as a debug node would
    assert box and box[0].status == "crashed"
    wait_for(lambda: gone)
    assert gone == ["the algorunner container disconnected or exited"]


def test_a_refused_second_client_and_the_workers_own_shutdown_do_not_count(
    session: PodSession, gone: list[str]
) -> None:
    with connect(f"ws://127.0.0.1:{session.port}/?encoding=json"):
        wait_for(lambda: session.connected)
        with connect(f"ws://127.0.0.1:{session.port}/?encoding=json") as second:
            assert json.loads(second.recv(timeout=5))["command"] == "alreadyConnectedError"
        time.sleep(0.2)
        assert gone == []
        session.close()
    time.sleep(0.2)
    assert gone == []


def test_the_port_comes_from_the_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HKUBE_WORKER_SOCKET_PORT", raising=False)
    assert socket_port() is None
    monkeypatch.setenv("HKUBE_WORKER_SOCKET_PORT", "3000")
    assert socket_port() == 3000
    monkeypatch.setenv("HKUBE_WORKER_SOCKET_PORT", "web")
    with pytest.raises(ValueError, match="HKUBE_WORKER_SOCKET_PORT must be a port number"):
        socket_port()
