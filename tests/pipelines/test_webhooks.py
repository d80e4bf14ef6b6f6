"""Webhook delivery in process: the verbosity filter, one POST, and the delivery record."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from pipelines import webhooks
from pipelines.models import Job, WebhookDelivery
from tests.http_receiver import Receiver


@pytest.mark.parametrize(
    ("requested", "event", "sent"),
    [
        ("info", "info", True),
        ("info", "error", True),  # failures reach a client at the default level
        ("info", "debug", False),  # per-task progress does not
        ("debug", "debug", True),
        ("trace", "info", True),
        ("error", "info", False),
        ("error", "error", True),
        ("critical", "error", False),
        ("warn", "warning", True),
    ],
)
def test_progress_events_at_least_as_severe_as_requested_are_sent(
    requested: str, event: str, sent: bool
) -> None:
    assert webhooks.wants_progress(requested, event) is sent


def test_a_post_reports_the_http_status_and_whether_to_retry(receiver: Receiver) -> None:
    receiver.script = {"/ok": [200], "/broken": [503], "/missing": [404]}
    ok = webhooks.post_json(receiver.url + "/ok", {"jobId": "j", "data": b"bytes"})
    assert (ok.succeeded, ok.status_code, ok.message, ok.retryable) == (True, 200, "OK", False)
    assert receiver.posts == [("/ok", {"jobId": "j", "data": "bytes"})]
    broken = webhooks.post_json(receiver.url + "/broken", {})
    assert (broken.succeeded, broken.status_code, broken.retryable) == (False, 503, True)
    missing = webhooks.post_json(receiver.url + "/missing", {})
    assert (missing.succeeded, missing.status_code, missing.retryable) == (False, 404, False)


def test_a_dead_receiver_is_a_retryable_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = webhooks.post_json(f"http://127.0.0.1:{port}/hook", {})
    assert (outcome.succeeded, outcome.status_code, outcome.error_code) == (False, None, "ECONNREFUSED")
    assert outcome.retryable and "refused" in outcome.message.lower()


def outcome(code: int) -> webhooks.Outcome:
    return webhooks.Outcome(code < 400, code, "", "x", retryable=code >= 500)


def test_the_progress_record_keeps_the_latest_event(db: None) -> None:
    webhooks.record("j", "progress", "http://h", "completed", outcome(200), 1, 300)
    webhooks.record("j", "progress", "http://h", "active", outcome(200), 1, 200)  # late, older
    assert WebhookDelivery.objects.get(job_id="j", kind="progress").pipeline_status == "completed"
    webhooks.record("j", "progress", "http://h", "completed", outcome(500), 2, 300)  # a retry of it
    record = WebhookDelivery.objects.get(job_id="j", kind="progress")
    assert (record.response_status, record.attempts) == ("failed", 2)


def stopped_job(job_id: str, hooks: dict[str, Any]) -> Job:
    return Job.objects.create(
        job_id=job_id, pipeline_name="p", pipeline={"name": "p", "webhooks": hooks}, user_pipeline={},
        status="stopped", start_time=1, end_time=2, status_timestamp=2,
        result={"startTime": 1, "pipeline": "p", "status": "stopped", "reason": "r", "timestamp": 2},
    )  # fmt: skip


def test_the_result_is_posted_once_then_never_again(db: None, receiver: Receiver) -> None:
    url = receiver.url + "/result"
    stopped_job("j1", {"result": url})
    first = webhooks.deliver_once("j1", "result", url, None, 2, attempt=1)
    assert first is not None and first.succeeded
    assert receiver.posts == [
        (
            "/result",
            {
                "jobId": "j1",
                "startTime": 1,
                "pipeline": "p",
                "status": "stopped",
                "reason": "r",
                "timestamp": 2,
            },
        )
    ]
    # A redelivered finished event, or a duplicate task, sends nothing.
    assert webhooks.deliver_once("j1", "result", url, None, 2, attempt=1) is None
    assert len(receiver.posts) == 1
    record = WebhookDelivery.objects.get(job_id="j1", kind="result")
    assert (record.pipeline_status, record.response_status, record.http_status_code) == (
        "stopped",
        "succeed",
        200,
    )


def test_a_failed_result_delivery_may_be_sent_again(db: None, receiver: Receiver) -> None:
    url = receiver.url + "/flaky"
    receiver.script = {"/flaky": [500, 200]}
    stopped_job("j2", {"result": url})
    assert not webhooks.deliver_once("j2", "result", url, None, 2, attempt=1).succeeded  # type: ignore[union-attr]
    assert webhooks.deliver_once("j2", "result", url, None, 2, attempt=2).succeeded  # type: ignore[union-attr]
    assert WebhookDelivery.objects.get(job_id="j2", kind="result").attempts == 2


def test_a_stale_status_event_is_sent_as_it_was(db: None) -> None:
    job = stopped_job("j3", {})
    body = webhooks._status_body(job, "pending", "info", webhooks._event_time(job, "pending"))
    assert body == {"jobId": "j3", "timestamp": 1, "pipeline": "p", "status": "pending", "level": "info"}
