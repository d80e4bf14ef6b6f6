"""Webhooks on the real system: a local receiver gets the progress and result POSTs of real
jobs, retries are spaced by the events queue, and a dead receiver never holds a job."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.algorithms import ECHO_OR_REFUSE
from tests.e2e.harness import Cluster, eventually
from tests.http_receiver import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def algorithm(algorithm_factory: Callable[..., str]) -> str:
    return algorithm_factory("wh-echo", ECHO_OR_REFUSE)


def pipeline(
    name: str, algorithm: str, hooks: dict[str, str], *, fail: bool = False, **options: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "nodes": [{"nodeName": "only", "algorithmName": algorithm, "input": ["fail" if fail else 5]}],
        "webhooks": hooks,
    }
    if options:
        body["options"] = options
    return body


def record(hkube: Cluster, kind: str, job_id: str) -> dict[str, Any] | None:
    response = hkube.get(f"webhooks/{kind}/{job_id}")
    return response.json() if response.status_code == 200 else None


def test_result_and_progress_webhooks_follow_a_completed_job(
    hkube: Cluster, algorithm: str, receiver: Receiver
) -> None:
    hooks = {"progress": receiver.url + "/ok/progress", "result": receiver.url + "/ok/result"}
    status = hkube.run("exec/raw", pipeline("wh-ok", algorithm, hooks))
    job_id = status["jobId"]
    assert status["status"] == "completed", status

    (result,) = eventually(lambda: receiver.bodies("/ok/result"), 10, "the result webhook")
    assert result == hkube.results(job_id)
    assert result["status"] == "completed" and result["data"][0]["result"] == [5]

    progress = eventually(
        lambda: (r := record(hkube, "status", job_id)) and r["pipelineStatus"] == "completed" and r,
        10,
        "the completed progress event",
    )
    assert progress == {
        "jobId": job_id, "url": hooks["progress"], "pipelineStatus": "completed", "status": "completed",
        "responseStatus": "succeed", "httpResponse": {"statusCode": 200, "statusMessage": "OK"},
        "timestamp": progress["timestamp"],
    }  # fmt: skip
    # Each event is its own delivery task, so they may arrive in any order.
    events = eventually(
        lambda: len(b := receiver.bodies("/ok/progress")) >= 3 and b, 10, "three progress events"
    )
    assert sorted(e["status"] for e in events) == ["active", "completed", "pending"]
    assert all(e["jobId"] == job_id and e["level"] == "info" for e in events)
    (final,) = [e for e in events if e["status"] == "completed"]
    assert final == hkube.get(f"exec/status/{job_id}").json()

    delivered = record(hkube, "results", job_id)
    assert delivered is not None and delivered["responseStatus"] == "succeed"
    assert delivered["pipelineStatus"] == "completed" and delivered["url"] == hooks["result"]
    listed = hkube.get(f"webhooks/list/{job_id}").json()
    assert listed == {"jobId": job_id, "result": delivered, "progress": progress}
    time.sleep(1)
    assert len(receiver.bodies("/ok/result")) == 1


def test_failures_reach_the_progress_hook_at_info_and_only_they_at_error(
    hkube: Cluster, algorithm: str, receiver: Receiver
) -> None:
    def hooks(prefix: str) -> dict[str, str]:
        return {"progress": f"{receiver.url}/{prefix}/progress", "result": f"{receiver.url}/{prefix}/result"}

    at_info = hkube.submit(pipeline("wh-fail-info", algorithm, hooks("info"), fail=True))
    at_error = hkube.submit(
        pipeline("wh-fail-error", algorithm, hooks("error"), fail=True, progressVerbosityLevel="error")
    )
    quiet = hkube.submit(pipeline("wh-quiet", algorithm, hooks("quiet"), progressVerbosityLevel="error"))
    for prefix in ("info", "error", "quiet"):
        eventually(lambda p=prefix: receiver.bodies(f"/{p}/result"), 30, f"the {prefix} result webhook")  # type: ignore[misc]
    time.sleep(1)  # let any straggling progress event arrive

    (failed,) = receiver.bodies("/info/result")
    assert failed["jobId"] == at_info and failed["status"] == "failed"
    assert failed["error"] == "refused: ['fail']" and "data" not in failed
    info_events = eventually(
        lambda: len(b := receiver.bodies("/info/progress")) >= 3 and b, 10, "info events"
    )
    assert sorted(e["status"] for e in info_events) == ["active", "failed", "pending"]
    (failure,) = [e for e in info_events if e["status"] == "failed"]
    assert (
        failure["level"] == "error"
        and failure["error"] == "refused: ['fail']"
        and failure["nodeName"] == "only"
    )

    assert [(e["jobId"], e["status"]) for e in receiver.bodies("/error/progress")] == [(at_error, "failed")]
    assert receiver.bodies("/quiet/progress") == []
    assert hkube.get(f"webhooks/status/{quiet}").json() == {
        "error": {"code": 404, "message": f"webhook {quiet} Not Found"}
    }
    assert receiver.bodies("/quiet/result")[0]["status"] == "completed"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_deliveries_retry_5xx_and_network_errors_without_holding_the_job(
    hkube: Cluster, algorithm: str, receiver: Receiver
) -> None:
    receiver.script["/flaky/result"] = [500, 500, 200]
    dead = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    flaky = hkube.submit(pipeline("wh-flaky", algorithm, {"result": receiver.url + "/flaky/result"}))
    doomed = hkube.submit(
        pipeline("wh-dead", algorithm, {"progress": dead + "/progress", "result": dead + "/result"}),
    )

    # The job ends long before its webhooks' retries could (3 attempts, 5 s apart).
    assert hkube.wait(doomed, timeout=60)["status"] == "completed"
    assert time.monotonic() - started < 9, "a dead receiver held the job"
    assert hkube.wait(flaky, timeout=60)["status"] == "completed"

    delivered = eventually(
        lambda: (r := record(hkube, "results", flaky)) and r["responseStatus"] == "succeed" and r,
        25,
        "the flaky receiver to accept",
    )
    assert delivered["httpResponse"] == {"statusCode": 200, "statusMessage": "OK"}
    times = [
        t for (path, _), t in zip(receiver.posts, receiver.times, strict=True) if path == "/flaky/result"
    ]
    assert len(times) == 3
    assert all(later - earlier >= 4.5 for earlier, later in itertools.pairwise(times))

    # Each attempt rewrites the record; the third comes two retry delays after the first.
    ended = hkube.get(f"exec/status/{doomed}").json()["timestamp"]
    failed = eventually(
        lambda: (r := record(hkube, "results", doomed)) and r["timestamp"] - ended >= 9_500 and r,
        25,
        "the dead receiver's last attempt",
    )
    assert failed["responseStatus"] == "failed" and failed["pipelineStatus"] == "completed"
    assert failed["url"] == dead + "/result"
    assert failed["httpResponse"]["statusCode"] == "ECONNREFUSED"
    progress = record(hkube, "status", doomed)
    assert progress is not None and progress["responseStatus"] == "failed"
