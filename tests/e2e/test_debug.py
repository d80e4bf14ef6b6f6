"""Debugging one node from outside: its tasks are served by a process the developer runs.

The session-level tests drive an AttachedSession (attach mode) with a raw WebSocket client; the
pipeline test runs A -> B (kind: debug) -> C on the real system, with B served by our python
wrapper started here as a developer would start it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from algorithms.runtime.attach import AttachedSession
from algorithms.runtime.outcome import TaskOutcome
from algorithms.runtime.wrappers import PYTHON_WRAPPER_DIR
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e

# --- attach mode, with a raw client ----------------------------------------------------------------


@pytest.fixture
def attached() -> Iterator[AttachedSession]:
    session = AttachedSession(path="/hkube/debug/alg", stop_grace=2.0)
    session.start()
    yield session
    session.close()


def run_in_thread(
    session: AttachedSession, payload: dict[str, Any], **kwargs: Any
) -> Callable[[], TaskOutcome]:
    box: list[TaskOutcome] = []
    thread = threading.Thread(target=lambda: box.append(session.run_attached(payload, **kwargs)), daemon=True)
    thread.start()

    def result() -> TaskOutcome:
        thread.join(20)
        assert box, "run_attached did not return"
        return box[0]

    return result


def receive(client: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(client.recv(timeout=10))
    return message


def test_an_attached_task_waits_for_its_client(attached: AttachedSession) -> None:
    result = run_in_thread(attached, {"input": [21]})
    time.sleep(0.3)  # nobody connected yet: the task waits

    with connect(attached.url + "?encoding=json") as client:
        assert receive(client) == {"command": "initialize", "data": {"input": [21]}}
        client.send(json.dumps({"command": "initialized", "data": None}))
        assert receive(client)["command"] == "start"
        client.send(json.dumps({"command": "logData", "data": ["printed in the IDE"]}))
        client.send(json.dumps({"command": "done", "data": 42}))
        outcome = result()

    assert (outcome.status, outcome.result) == ("done", 42)
    assert [m for _, stream, m in attached.drain_log_records() if stream == "logData"] == [
        "printed in the IDE"
    ]


def test_a_task_is_sent_again_when_its_client_comes_back(attached: AttachedSession) -> None:
    result = run_in_thread(attached, {"input": [1]})
    with connect(attached.url) as first:
        assert receive(first)["command"] == "initialize"
        first.send(json.dumps({"command": "initialized", "data": None}))
        assert receive(first)["command"] == "start"
    # gone in the middle of the task: it waits, and the next client gets it from the start
    with connect(attached.url) as second:
        assert receive(second) == {"command": "initialize", "data": {"input": [1]}}
        second.send(json.dumps({"command": "initialized", "data": None}))
        assert receive(second)["command"] == "start"
        second.send(json.dumps({"command": "done", "data": "second try"}))
        assert result().result == "second try"


def test_only_one_client_at_a_time(attached: AttachedSession) -> None:
    with connect(attached.url) as first:
        deadline = time.monotonic() + 5
        while not attached.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        with connect(attached.url) as second:
            assert receive(second)["command"] == "alreadyConnectedError"  # HKube's wrapper exits on it
            with pytest.raises(ConnectionClosed) as closed:
                second.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
        assert first.protocol.state.name == "OPEN"


def test_stop_ends_the_wait_and_a_ttl_bounds_it(attached: AttachedSession) -> None:
    result = run_in_thread(attached, {"input": []})
    deadline = time.monotonic() + 5
    while not attached.stop() and time.monotonic() < deadline:  # False until run_attached waits
        time.sleep(0.01)
    assert result().status == "stopped"

    outcome = attached.run_attached({"input": []}, timeout=0.3)
    assert outcome.status == "timeout"
    assert outcome.error == {
        "code": "Timeout",
        "message": "no algorithm connected before the task's TTL ran out",
    }


# --- a debug node in a pipeline --------------------------------------------------------------------

DOUBLE = "def start(args):\n    return args['input'][0] * 2\n"
PLUS_ONE = "def start(args):\n    return args['input'][0] + 1\n"
NOT_HERE = "def start(args):\n    raise RuntimeError('the debug node must not run the code stored here')\n"
DEVELOPERS_CODE = "def start(args):\n    print('hello from the IDE')\n    return args['input'][0] * 100\n"


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> dict[str, str]:
    return {
        "double": algorithm_factory("db-double", {"main.py": DOUBLE}),
        "debugged": algorithm_factory("db-debugged", {"main.py": NOT_HERE}),
        "plus": algorithm_factory("db-plus-one", {"main.py": PLUS_ONE}),
    }


def debug_url(hkube: Cluster, algorithm: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = hkube.get(f"debug/{algorithm}")
        if response.status_code == 200:
            url: str = response.json()["url"]
            return url
        assert response.status_code == 404, response.text
        time.sleep(0.2)
    raise AssertionError(f"no debug URL for {algorithm}:\n{hkube.logs('control')[-3000:]}")


def start_developer_process(url: str, code_dir: Path) -> subprocess.Popen[bytes]:
    """What the developer runs: our wrapper, pointed at the debug URL and their own code."""
    code_dir.mkdir(parents=True, exist_ok=True)
    (code_dir / "main.py").write_text(DEVELOPERS_CODE)
    env = {
        **os.environ,
        "WORKER_SOCKET_URL": url,
        "ALGORITHM_PATH": str(code_dir),
        "PYTHONPATH": str(PYTHON_WRAPPER_DIR),
    }
    return subprocess.Popen([sys.executable, "-m", "hkube_wrapper"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip


def test_a_debug_node_is_served_by_the_developers_process(
    hkube: Cluster, algorithms: dict[str, str], tmp_path: Path
) -> None:
    pipeline = {
        "name": "db-pipeline",
        "nodes": [
            {"nodeName": "A", "algorithmName": algorithms["double"], "input": ["@flowInput.x"]},
            {"nodeName": "B", "algorithmName": algorithms["debugged"], "input": ["@A"], "kind": "debug"},
            {"nodeName": "C", "algorithmName": algorithms["plus"], "input": ["@B"]},
        ],
        "flowInput": {"x": 3},
    }
    response = hkube.post("exec/raw", pipeline)
    assert response.status_code == 200, response.text
    job_id = response.json()["jobId"]

    url = debug_url(hkube, algorithms["debugged"])
    assert url.endswith(f"/hkube/debug/{algorithms['debugged']}")
    nodes = hkube.get(f"exec/debug/{job_id}").json()["nodes"]
    assert nodes == [{"nodeName": "B", "algorithmName": algorithms["debugged"], "url": url}]
    assert hkube.get(f"exec/status/{job_id}").json()["status"] == "active"  # B waits for the developer

    developer = start_developer_process(url, tmp_path / "my-code")
    try:
        status = hkube.wait(job_id, timeout=90)
    finally:
        developer.terminate()
        output = developer.communicate(timeout=10)[0].decode(errors="replace")
    assert status["status"] == "completed", (status, output)

    [result] = hkube.results(job_id)["data"]
    assert (result["nodeName"], result["result"]) == ("C", 601)  # (3 * 2) * 100 + 1
    assert "hello from the IDE" in output  # the developer's output stays on the developer's screen
