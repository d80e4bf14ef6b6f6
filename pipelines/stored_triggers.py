"""What stored pipelines' triggers say, and beat's mirror of their cron triggers.

The lower half of triggers (`pipelines.triggers` starts the jobs): the descriptor readers,
the trigger graph with its cycle check, and the `PeriodicTask` per cron trigger. It reads
stored pipelines and writes beat's tables only, so `pipelines.services.stored` calls it
when a pipeline is stored, and it imports no service.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from celery.schedules import crontab
from django.conf import settings
from django.db.models import QuerySet
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from hkube_site.errors import InvalidData
from hkube_site.queues import EVENTS
from pipelines.models import Pipeline

log = logging.getLogger(__name__)

CRON_TASK = "pipelines.triggers.run_cron"
CRON_TASK_PREFIX = "hkube cron: "
CYCLIC = "the pipelines triggers is cyclic"


def with_trigger(key: str) -> QuerySet[Pipeline]:
    """Stored pipelines whose descriptor has `triggers.<key>` (a JSON key lookup, so the
    database skips the others); callers still check the value."""
    return Pipeline.objects.filter(descriptor__triggers__has_key=key).only("name", "descriptor")


def _triggers(descriptor: dict[str, Any]) -> dict[str, Any]:
    value = descriptor.get("triggers")
    return value if isinstance(value, dict) else {}


def cron_of(descriptor: dict[str, Any]) -> dict[str, Any] | None:
    cron = _triggers(descriptor).get("cron")
    return cron if isinstance(cron, dict) else None


def listens_to(descriptor: dict[str, Any]) -> list[str]:
    """The pipelines whose completion starts this one (`triggers.pipelines`)."""
    names = _triggers(descriptor).get("pipelines")
    return [str(n) for n in names] if isinstance(names, list) else []


# --- cron: beat schedules ----------------------------------------------------------------------


def periodic_task_name(pipeline_name: str) -> str:
    """`hkube cron: <pipeline>`, shortened with a digest when over PeriodicTask's 200 characters."""
    name = CRON_TASK_PREFIX + pipeline_name
    if len(name) <= 200:
        return name
    digest = hashlib.sha1(pipeline_name.encode()).hexdigest()[:16]
    return f"{name[:180]}~{digest}"


def crontab_fields(pattern: str) -> dict[str, str] | None:
    """Beat's crontab fields for an HKube cron pattern, or None when beat cannot express it.

    A 6-field pattern has seconds first; beat has no seconds, so they are dropped and the
    job fires once at the start of each matching minute. `?` ("any") is read as `*`.
    """
    fields = [f.replace("?", "*") for f in pattern.split()]
    if len(fields) == 6:
        fields = fields[1:]
    if len(fields) != 5:
        return None
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    values = {
        "minute": minute,
        "hour": hour,
        "day_of_month": day_of_month,
        "month_of_year": month_of_year,
        "day_of_week": day_of_week,
    }
    try:
        crontab(**values)
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("cron pattern %r cannot be scheduled by beat: %s", pattern, exc)
        return None
    limits = {f: CrontabSchedule._meta.get_field(f).max_length for f in values}
    if any(len(v) > (limits[f] or 0) for f, v in values.items()):
        log.warning("cron pattern %r is too long to be scheduled", pattern)
        return None
    return values


def _schedule(fields: dict[str, str]) -> CrontabSchedule:
    query = CrontabSchedule.objects.filter(timezone=settings.TIME_ZONE, **fields)
    return query.first() or CrontabSchedule.objects.create(timezone=settings.TIME_ZONE, **fields)


def _apply_cron(name: str, cron: dict[str, Any] | None) -> None:
    """Make the pipeline's PeriodicTask match its cron trigger; saved only when something
    changed, because each save makes beat reload every schedule."""
    task_name = periodic_task_name(name)
    existing = PeriodicTask.objects.filter(name=task_name).first()
    fields = crontab_fields(str(cron.get("pattern") or "")) if cron else None
    if fields is None:
        if existing is not None:
            existing.delete()
        return
    enabled = bool(cron and cron.get("enabled"))
    args = json.dumps([name])
    if existing is not None:
        current = existing.crontab
        same = (
            current is not None
            and all(getattr(current, f) == v for f, v in fields.items())
            and existing.interval_id is None
            and (existing.enabled, existing.task, existing.args, existing.queue)
            == (enabled, CRON_TASK, args, EVENTS)
        )
        if same:
            return
    task = existing or PeriodicTask(name=task_name)
    task.crontab = _schedule(fields)
    task.interval = None
    task.task = CRON_TASK
    task.args = args
    task.queue = EVENTS
    task.enabled = enabled
    task.description = f"cron trigger of stored pipeline {name}"
    task.save()


def sync_cron(pipeline_name: str) -> None:
    """Mirror one stored pipeline's cron trigger into beat (none, or deleted: no task)."""
    stored = Pipeline.objects.filter(name=pipeline_name).first()
    _apply_cron(pipeline_name, cron_of(stored.descriptor) if stored else None)


def reconcile_crons() -> None:
    """Mirror every stored pipeline's cron trigger, and drop tasks of pipelines that are gone."""
    wanted: dict[str, dict[str, Any]] = {}
    for pipeline in with_trigger("cron"):
        cron = cron_of(pipeline.descriptor)
        if cron is not None:
            wanted[pipeline.name] = cron
            _apply_cron(pipeline.name, cron)
    for task in PeriodicTask.objects.filter(task=CRON_TASK):
        try:
            name = json.loads(task.args)[0]
        except (ValueError, IndexError, TypeError):
            name = None
        if name not in wanted:
            task.delete()


# --- the stored pipelines' trigger graph ---------------------------------------------------------


def trigger_edges(override: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """parent pipeline -> the pipelines it triggers, over the stored pipelines, with
    `override` (a descriptor about to be stored) in place of its stored version."""
    listeners: dict[str, list[str]] = {p.name: listens_to(p.descriptor) for p in with_trigger("pipelines")}
    if override is not None:
        listeners[str(override.get("name"))] = listens_to(override)
    edges: dict[str, list[str]] = {}
    for child, parents in listeners.items():
        for parent in parents:
            edges.setdefault(parent, [])
            edges.setdefault(child, [])
            if child not in edges[parent]:
                edges[parent].append(child)
    return edges


def names_on_cycles(edges: dict[str, list[str]]) -> set[str]:
    """Every pipeline that can reach itself."""
    on_cycles: set[str] = set()
    for start in edges:
        stack = list(edges.get(start, []))
        seen: set[str] = set()
        while stack:
            current = stack.pop()
            if current == start:
                on_cycles.add(start)
                break
            if current not in seen:
                seen.add(current)
                stack.extend(edges.get(current, []))
    return on_cycles


def check_trigger_cycles(descriptor: dict[str, Any]) -> None:
    """Refuse a pipeline whose `triggers.pipelines` would close a cycle among the stored ones
    (a pipeline triggering itself included)."""
    if not listens_to(descriptor):
        return
    if str(descriptor.get("name")) in names_on_cycles(trigger_edges(descriptor)):
        raise InvalidData(CYCLIC)
