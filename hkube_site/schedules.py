"""Periodic tasks kept in the database (django-celery-beat), created idempotently."""

from __future__ import annotations

from django_celery_beat.models import IntervalSchedule, PeriodicTask

RECONCILE_EVERY_SECONDS = 2


def ensure_schedules() -> None:
    every, _ = IntervalSchedule.objects.get_or_create(
        every=RECONCILE_EVERY_SECONDS, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.update_or_create(
        name="hkube: reconcile algorithm workers",
        defaults={
            "interval": every,
            "task": "algorithms.tasks.reconcile_workers",
            "queue": "control",
            "expires": None,
            "enabled": True,
        },
    )
