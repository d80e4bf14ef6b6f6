"""Reactions to job events (run on the `events` queue): webhooks and pipeline triggers.

Both are idempotent: events are delivered at least once (acks_late).
"""

from __future__ import annotations


def on_status(job_id: str, status: str, level: str) -> None:
    """Progress webhook (filtered by `options.progressVerbosityLevel`)."""
    from pipelines import webhooks

    webhooks.progress_event(job_id, status, level)


def on_finished(job_id: str) -> None:
    """Result webhook, then pipeline triggers of a completed job."""
    from pipelines import triggers, webhooks

    webhooks.result_event(job_id)
    triggers.on_job_finished(job_id)
