"""Periodic tasks kept in the database (django-celery-beat), created idempotently."""

from __future__ import annotations

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from hkube_site import queues

# (name, task, queue, every seconds)
SCHEDULES = [
    ("hkube: reconcile algorithm workers", "algorithms.tasks.reconcile_workers", queues.CONTROL, 2),
    # HKube's trigger-service reloads the stored pipelines' cron triggers every 15 s.
    ("hkube: reconcile cron triggers", "pipelines.triggers.reconcile_crons", queues.EVENTS, 15),
    # Job TTLs (HKube's gc-service checks every few minutes; expiry is approximate there too)
    # and concurrency slots freed by jobs that ended.
    ("hkube: expire jobs and release held jobs", "pipelines.tasks.expire_and_release", queues.ENGINE, 5),
]


def ensure_schedules() -> None:
    for name, task, queue, seconds in SCHEDULES:
        every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"interval": every, "task": task, "queue": queue, "expires": None, "enabled": True},
        )
