"""Prometheus' `/metrics`: jobs, task and build durations, queues, workers, webhook failures.

Every value is read at scrape time from the database and Redis, not counted in memory:
gunicorn's workers, the engine's and every algorithm's Celery workers are separate
processes, and the rows they already write (Job, Task, Build, WebhookDelivery) and the
worker registry are the truth all of them share. prometheus-client's multiprocess mode
would need one shared folder set up before any import in every process (local and, later,
in pods), and its counters start again from zero whenever that folder is wiped; these
survive restarts. The cost is a few aggregate queries per scrape. Counters count rows
that still exist: a job removed by its TTL leaves them (Prometheus sees a counter reset).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Count, ExpressionWrapper, F, IntegerField, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from algorithms.models import Algorithm
from algorithms.scheduling.observe import queue_depth, registered_workers
from builds.models import Build
from pipelines.models import FINAL_JOB_STATUSES, Job, Task, WebhookDelivery

TASK_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
BUILD_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


def _histogram(
    name: str, doc: str, rows: QuerySet[Any], label: str, buckets: tuple[float, ...]
) -> HistogramMetricFamily:
    """One histogram from rows with `start_time`/`end_time` in ms, grouped by `label`'s field;
    the buckets are counted by the database (one query), so no row is read here."""
    duration = ExpressionWrapper(F("end_time") - F("start_time"), output_field=IntegerField())
    counts: dict[str, Any] = {
        f"le{i}": Count("pk", filter=Q(ms__lte=b * 1000)) for i, b in enumerate(buckets)
    }
    grouped = (
        rows.filter(start_time__isnull=False, end_time__isnull=False)
        .annotate(ms=duration)
        .values(label)
        .annotate(n=Count("pk"), total=Sum("ms"), **counts)
        .order_by(label)
    )
    family = HistogramMetricFamily(name, doc, labels=[label.replace("_name", "")])
    for row in grouped:
        series = [(_le(b), row[f"le{i}"]) for i, b in enumerate(buckets)] + [("+Inf", row["n"])]
        family.add_metric([row[label] or ""], series, (row["total"] or 0) / 1000)
    return family


def _le(bound: float) -> str:
    return str(bound)


class HKubeCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        yield from self._jobs()
        yield _histogram(
            "hkube_task_duration_seconds",
            "How long an algorithm ran one task (one batch item), by algorithm.",
            Task.objects.all(),
            "algorithm_name",
            TASK_BUCKETS,
        )
        yield _histogram(
            "hkube_build_duration_seconds",
            "How long an algorithm build took, by how it ended.",
            Build.objects.all(),
            "status",
            BUILD_BUCKETS,
        )
        yield from self._executor()
        failed = CounterMetricFamily(
            "hkube_webhook_failures",
            "Job webhooks (progress or result) whose last delivery failed.",
            labels=["kind"],
        )
        by_kind = (
            WebhookDelivery.objects.filter(response_status="failed").values("kind").annotate(n=Count("pk"))
        )
        for row in by_kind.order_by("kind"):
            failed.add_metric([row["kind"]], row["n"])
        yield failed

    def _jobs(self) -> Iterator[Metric]:
        started = CounterMetricFamily("hkube_jobs_started", "Jobs submitted.")
        started.add_metric([], Job.objects.count())
        yield started
        ended = CounterMetricFamily(
            "hkube_jobs_ended", "Jobs that ended, by final status.", labels=["status"]
        )
        counts = dict(
            Job.objects.filter(status__in=FINAL_JOB_STATUSES).values_list("status").annotate(n=Count("pk"))
        )
        for status in FINAL_JOB_STATUSES:
            ended.add_metric([str(status)], counts.get(status, 0))
        yield ended
        running = GaugeMetricFamily("hkube_jobs", "Jobs that have not ended, by status.", labels=["status"])
        live = (
            Job.objects.exclude(status__in=FINAL_JOB_STATUSES).values_list("status").annotate(n=Count("pk"))
        )
        for status, n in sorted(live):
            running.add_metric([status], n)
        yield running

    def _executor(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "hkube_queue_depth", "Tasks waiting in an algorithm's queue (messages).", labels=["algorithm"]
        )
        for name in Algorithm.objects.order_by("name").values_list("name", flat=True):
            depth.add_metric([name], queue_depth(name))
        yield depth
        workers = GaugeMetricFamily(
            "hkube_workers",
            "Algorithm workers registered, by algorithm and state.",
            labels=["algorithm", "state"],
        )
        tally: dict[tuple[str, str], int] = {}
        for worker in registered_workers():
            key = (worker.algorithm, "working" if worker.busy else "ready")
            tally[key] = tally.get(key, 0) + 1
        for (algorithm, state), n in sorted(tally.items()):
            workers.add_metric([algorithm, state], n)
        yield workers


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(HKubeCollector())


def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
