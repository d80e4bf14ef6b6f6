"""The Celery app. Queues are named in `hkube_site.queues`; routes live in settings."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hkube_site.settings")

app = Celery("hkube")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from hkube_site import redelivery  # noqa: E402, F401  - connects its worker signals
