"""Outbound webhooks: a job's progress and result, POSTed to the URLs in `pipeline.webhooks`
(hkube-api §3.8, semantics §6.5).

* progress: the status object (§6.2, with `jobId`) of every status event that passes the
  verbosity filter. HKube's webhooks-handler sends an event when
  `level(options.progressVerbosityLevel) <= level(event.level)` with trace=0, debug=1,
  info=2, warn=3, error=4, critical=5: the event must be at least as severe as the level the
  client asked for. With the default `info` a client gets pending, active, completed,
  stopped and failed (level `error`); `error` gets failures only; `critical` gets nothing.
* result: the result object (§6.3) once the job is completed, failed or stopped, big-data
  entries as they are in `exec/results`.

Each delivery is a Celery task on the `events` queue: POST JSON with a 10 s timeout, at most
3 attempts 5 s apart (`retry` with a countdown, so nothing waits in between), retried only
on network errors and 5xx. A job never waits for its webhooks. The outcome of each attempt
is kept in `WebhookDelivery`, one row per (job, kind).
"""

from __future__ import annotations

import errno
import json
import logging
import socket
from dataclasses import dataclass
from typing import Any

import requests
from celery import shared_task
from django.db import IntegrityError, transaction
from rest_framework.utils.encoders import JSONEncoder

from hkube_site.queues import EVENTS
from pipelines import services
from pipelines.models import FINAL_JOB_STATUSES, Job, JobStatus, WebhookDelivery, WebhookKind, now_ms

log = logging.getLogger(__name__)

ATTEMPTS = 3
RETRY_DELAY_SECONDS = 5
TIMEOUT_SECONDS = 10

# @hkube/logger's levels; `warning` is the name HKube's logger gives `warn`.
LEVELS = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "warning": 3, "error": 4, "critical": 5}


def wants_progress(requested: str, event_level: str) -> bool:
    """True when a status event of `event_level` goes to a client that asked for `requested`."""
    return LEVELS.get(requested, LEVELS["info"]) <= LEVELS.get(event_level, LEVELS["info"])


@dataclass(frozen=True)
class Outcome:
    """One POST: `status_code` is None when no response came back (then `error_code`)."""

    succeeded: bool
    status_code: int | None
    error_code: str
    message: str
    retryable: bool


def post_json(url: str, body: Any) -> Outcome:
    """POST `body` as JSON, encoded as the API encodes it."""
    data = json.dumps(body, cls=JSONEncoder).encode()
    try:
        response = requests.post(
            url, data=data, headers={"Content-Type": "application/json"}, timeout=TIMEOUT_SECONDS
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        code, message = _network_error(exc)
        return Outcome(False, None, code, message, retryable=True)
    except requests.RequestException as exc:  # a bad URL: retrying cannot help
        return Outcome(False, None, type(exc).__name__, str(exc), retryable=False)
    status = response.status_code
    return Outcome(status < 400, status, "", response.reason or "", retryable=status >= 500)


def _network_error(exc: BaseException) -> tuple[str, str]:
    """Node-style error code (ECONNREFUSED, ETIMEDOUT, ENOTFOUND) and the root cause's text."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "ENOTFOUND", str(current)
        if isinstance(current, TimeoutError):
            return "ETIMEDOUT", str(current) or "timed out"
        if (
            isinstance(current, OSError)
            and isinstance(current.errno, int)
            and current.errno in errno.errorcode
        ):
            return errno.errorcode[current.errno], str(current)
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(e for e in linked if isinstance(e, BaseException))
    if isinstance(exc, requests.Timeout):
        return "ETIMEDOUT", str(exc)
    return type(exc).__name__, str(exc)


# --- reacting to job events ------------------------------------------------------------------


def _hook_url(job: Job, kind: str) -> str | None:
    url = ((job.pipeline or {}).get("webhooks") or {}).get(kind)
    return str(url) if url else None


def progress_event(job_id: str, status: str, level: str) -> None:
    """A status event: queue its progress webhook if the pipeline has one and wants this level."""
    job = Job.objects.filter(job_id=job_id).first()
    if job is None:
        return
    url = _hook_url(job, WebhookKind.PROGRESS)
    if not url:
        return
    requested = ((job.pipeline or {}).get("options") or {}).get("progressVerbosityLevel") or "info"
    if not wants_progress(requested, level):
        return
    stamp = _event_time(job, status)
    body = _status_body(job, status, level, stamp)
    deliver.apply_async((job_id, WebhookKind.PROGRESS.value, url, body, stamp), queue=EVENTS)


def result_event(job_id: str) -> None:
    """A job finished: queue its result webhook, unless an earlier delivery already succeeded
    (the finished event is delivered at least once)."""
    job = Job.objects.filter(job_id=job_id).first()
    if job is None or job.status not in FINAL_JOB_STATUSES:
        return
    url = _hook_url(job, WebhookKind.RESULT)
    if not url or _already_delivered(job_id):
        return
    deliver.apply_async((job_id, WebhookKind.RESULT.value, url, None, job.end_time or 0), queue=EVENTS)


def _event_time(job: Job, status: str) -> int:
    """When the job entered `status`; orders the progress events of one job."""
    if job.status == status:
        return job.status_timestamp
    if status == JobStatus.PENDING:
        return job.start_time
    if status == JobStatus.ACTIVE and job.active_time:
        return job.active_time
    return job.status_timestamp


def _status_body(job: Job, status: str, level: str, stamp: int) -> dict[str, Any]:
    """The status object as it was at the event. Events are handled after commit, so the job
    may already have moved on (a fast job is completed before its `pending` event is read):
    such a stale event gets the fields it had then, not today's progress."""
    if job.status == status:
        return services.status_object(job)
    body: dict[str, Any] = {
        "jobId": job.job_id,
        "timestamp": stamp,
        "pipeline": job.pipeline_name,
        "status": status,
        "level": level,
    }
    if status == JobStatus.ACTIVE and job.active_time:
        body["activeTime"] = job.active_time
    return body


def _already_delivered(job_id: str) -> bool:
    return WebhookDelivery.objects.filter(
        job_id=job_id, kind=WebhookKind.RESULT, response_status="succeed"
    ).exists()


# --- delivery --------------------------------------------------------------------------------


@shared_task(
    name="pipelines.webhooks.deliver",
    bind=True,
    acks_late=True,
    ignore_result=True,
    queue=EVENTS,
    max_retries=ATTEMPTS - 1,
)
def deliver(
    self: Any, job_id: str, kind: str, url: str, body: dict[str, Any] | None, event_timestamp: int
) -> None:
    attempt = int(self.request.retries) + 1
    outcome = deliver_once(job_id, kind, url, body, event_timestamp, attempt)
    if outcome is not None and outcome.retryable and attempt < ATTEMPTS:
        raise self.retry(countdown=RETRY_DELAY_SECONDS, queue=EVENTS)


def deliver_once(
    job_id: str, kind: str, url: str, body: dict[str, Any] | None, event_timestamp: int, attempt: int
) -> Outcome | None:
    """One attempt, recorded. The result body is read at each attempt (it does not change once
    the job is final), so a result never travels through the broker."""
    if kind == WebhookKind.RESULT:
        if _already_delivered(job_id):
            return None
        job = Job.objects.filter(job_id=job_id).first()
        if job is None or job.result is None:
            return None
        body = services.result_object(job)
        pipeline_status = job.status
    else:
        pipeline_status = str((body or {}).get("status", ""))
    outcome = post_json(url, body)
    if not outcome.succeeded:
        log.warning(
            "%s webhook of job %s to %s failed (attempt %d/%d): %s %s",
            kind, job_id, url, attempt, ATTEMPTS, outcome.status_code or outcome.error_code, outcome.message,
        )  # fmt: skip
    record(job_id, kind, url, pipeline_status, outcome, attempt, event_timestamp)
    return outcome


def record(
    job_id: str,
    kind: str,
    url: str,
    pipeline_status: str,
    outcome: Outcome,
    attempt: int,
    event_timestamp: int,
) -> None:
    """Write the delivery row of (job, kind). Progress deliveries of one job run concurrently,
    so a row is only overwritten by an event at least as recent as the one it holds."""
    values = {
        "url": url,
        "pipeline_status": pipeline_status,
        "status": "completed",
        "response_status": "succeed" if outcome.succeeded else "failed",
        "http_status_code": outcome.status_code,
        "error_code": outcome.error_code,
        "http_status_message": outcome.message,
        "attempts": attempt,
        "event_timestamp": event_timestamp,
        "timestamp": now_ms(),
    }
    newer_or_same = WebhookDelivery.objects.filter(
        job_id=job_id, kind=kind, event_timestamp__lte=event_timestamp
    )
    if newer_or_same.update(**values):
        return
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(job_id=job_id, kind=kind, **values)
    except IntegrityError:
        # The row exists: either it holds a newer event (leave it) or it was created by a
        # concurrent delivery since the update above.
        newer_or_same.update(**values)


def delivery(job_id: str, kind: str) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(job_id=job_id, kind=kind).first()
