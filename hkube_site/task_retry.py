"""Tasks that lose their database connection (a restarted or failed-over server) run again
instead of failing: a failed task's message is acknowledged, and the job it drives would
never end. Celery's Django fix-up closes the broken connection after the task, so the next
attempt opens a new one. Engine tasks are compare-and-swap and item rows are upserted, so
running one again is harmless."""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, OperationalError

DATABASE_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,  # 1, 2, 4, 8 then 10 s apart: about 2 minutes in all
    "retry_backoff_max": 10,
    "retry_jitter": False,
    "max_retries": 14,
}
