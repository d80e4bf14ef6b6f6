"""Reactions to job events (run on the `events` queue): webhooks and pipeline triggers.

Both are idempotent: events are delivered at least once (acks_late).
"""

from __future__ import annotations

from pipelines import triggers, webhooks


def on_status(job_id: str, status: str, level: str) -> None:
    """Progress webhook (filtered by `options.progressVerbosityLevel`)."""
    webhooks.progress_event(job_id, status, level)


def on_finished(job_id: str) -> None:
    """Result webhook, then pipeline triggers of a completed job."""
    webhooks.result_event(job_id)
    triggers.on_job_finished(job_id)
