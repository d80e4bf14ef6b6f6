"""Reactions to job events (run on the `control` queue): webhooks and pipeline triggers."""

from __future__ import annotations


def on_status(job_id: str, status: str, level: str) -> None:
    """Progress webhook (filtered by `options.progressVerbosityLevel`)."""


def on_finished(job_id: str) -> None:
    """Result webhook, then pipeline triggers of a completed job."""
