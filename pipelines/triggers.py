"""Triggers (semantics §6.4): cron schedules and pipeline triggers of stored pipelines.

Cron: a stored pipeline's `triggers.cron = {pattern, enabled}` is kept as a django-celery-beat
`PeriodicTask` ("hkube cron: <pipeline>") with a `CrontabSchedule`, so schedules live in the
database and survive restarts. `sync_cron(name)` mirrors one pipeline; `reconcile_crons`
(beat, every 15 s, like HKube's trigger-service reload) mirrors them all, so a schedule is
right even when a call site forgot to sync. Beat's crontab has no seconds: a 6-field pattern
(seconds first, as HKube's `cron` package reads it) fires once in each matching minute, at
the start of the minute. Each tick runs `run_cron`, which submits the stored pipeline with
its stored flowInput, types `[stored, internal, cron]`.

Pipeline triggers: when a job completes, every stored pipeline whose `triggers.pipelines`
names the job's pipeline is submitted with flowInput = its stored flowInput deep-merged with
`{parent: <the job's result data>}`, types `[internal, stored, trigger]`. Failed and stopped
jobs trigger nothing. Each start is claimed first in `TriggerRun`, so a redelivered event or
cron tick never starts a job twice; those rows are also the triggers tree of `exec/tree`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections import defaultdict
from typing import Any

from celery import shared_task
from celery.schedules import crontab
from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from hkube_site.errors import ApiError, InvalidData, NotFound
from hkube_site.queues import EVENTS
from hkube_site.validation import ValidationError
from pipelines import services
from pipelines.models import Job, JobStatus, Pipeline, TriggerKind, TriggerRun

log = logging.getLogger(__name__)

CRON_TASK = "pipelines.triggers.run_cron"
RECONCILE_TASK = "pipelines.triggers.reconcile_crons"
CRON_TASK_PREFIX = "hkube cron: "
DEFAULT_CRON_PATTERN = "0 * * * *"
CRON_TYPES = ["stored", "internal", "cron"]
TRIGGER_TYPES = ["internal", "stored", "trigger"]
CYCLIC = "the pipelines triggers is cyclic"


def _with_trigger(key: str) -> QuerySet[Pipeline]:
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


# --- cron: the API -----------------------------------------------------------------------------


def set_cron(name: str, *, enabled: bool, pattern: str | None = None) -> Pipeline:
    """`cron/start` and `cron/stop`: `triggers.cron = {enabled, pattern: given ?? existing ??
    "0 * * * *"}`, through `update_pipeline` so the stored descriptor is validated again."""
    stored = Pipeline.objects.filter(name=name).first()
    if stored is None:
        raise NotFound("pipeline", name)
    descriptor = copy.deepcopy(stored.descriptor)
    triggers = descriptor.get("triggers") if isinstance(descriptor.get("triggers"), dict) else {}
    cron = cron_of(descriptor) or {}
    triggers["cron"] = {
        **cron,
        "enabled": enabled,
        "pattern": pattern or cron.get("pattern") or DEFAULT_CRON_PATTERN,
    }
    descriptor["triggers"] = triggers
    pipeline = services.update_pipeline(descriptor)
    sync_cron(name)
    return pipeline


def cron_list() -> list[dict[str, Any]]:
    """`cron/list`: every stored pipeline that has a cron trigger, enabled or not."""
    listed = []
    for pipeline in _with_trigger("cron"):
        cron = cron_of(pipeline.descriptor)
        if cron is not None:
            listed.append({"name": pipeline.name, "cron": cron})
    return listed


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
    for pipeline in _with_trigger("cron"):
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


@shared_task(name=RECONCILE_TASK, acks_late=True, ignore_result=True, queue=EVENTS)
def reconcile_crons_task() -> None:
    reconcile_crons()


@shared_task(name=CRON_TASK, bind=True, acks_late=True, ignore_result=True, queue=EVENTS)
def run_cron(self: Any, pipeline_name: str) -> None:
    fire_cron(pipeline_name, tick_id=str(self.request.id))


def fire_cron(pipeline_name: str, *, tick_id: str) -> str | None:
    """One cron tick: submit the stored pipeline as it is stored. Returns the new jobId."""
    stored = Pipeline.objects.filter(name=pipeline_name).first()
    cron = cron_of(stored.descriptor) if stored else None
    if stored is None or not cron or not cron.get("enabled"):
        return None  # disabled or deleted since beat read its schedule
    descriptor = services.merge_stored(stored.descriptor, {})
    return _start_once(TriggerKind.CRON, tick_id, pipeline_name, descriptor, types=CRON_TYPES)


def _start_once(
    kind: str,
    source: str,
    pipeline_name: str,
    descriptor: dict[str, Any],
    *,
    types: list[str],
    parent_job_id: str | None = None,
    root_job_id: str | None = None,
) -> str | None:
    """Claim (kind, source, pipeline) and submit the job in the same transaction: a crash
    before commit leaves neither, so the redelivered message tries again; after commit the
    claim makes a redelivery do nothing. A refused submission is kept on the claim."""
    with transaction.atomic():
        run, created = TriggerRun.objects.get_or_create(
            kind=kind, source=source, pipeline_name=pipeline_name, defaults={"root_job_id": root_job_id}
        )
        if not created:
            return None
        try:
            with transaction.atomic():
                job = services.submit_job(
                    descriptor, types=types, parent_job_id=parent_job_id, root_job_id=root_job_id
                )
        except (ApiError, ValidationError) as exc:
            log.warning(
                "%s trigger of pipeline %s from %s refused: %s", kind, pipeline_name, source, exc.message
            )
            run.error = exc.message
            run.save(update_fields=["error"])
            return None
        run.job_id = job.job_id
        run.save(update_fields=["job_id"])
        return job.job_id


# --- pipeline triggers -----------------------------------------------------------------------------


def on_job_finished(job_id: str) -> list[str]:
    """Start the stored pipelines that listen to this job's pipeline, if it completed.
    Returns the jobIds started now (none when this event was already handled)."""
    parent = Job.objects.filter(job_id=job_id).first()
    if parent is None or parent.status != JobStatus.COMPLETED:
        return []
    listeners = [p for p in _with_trigger("pipelines") if parent.pipeline_name in listens_to(p.descriptor)]
    if not listeners:
        return []
    # Cycles are refused when pipelines are stored; a cycle that slipped in must not loop forever.
    cyclic = _names_on_cycles(trigger_edges())
    data = services.result_object(parent).get("data")
    root = parent.root_job_id or parent.job_id
    started = []
    for listener in listeners:
        if listener.name in cyclic:
            log.error("not triggering %s from job %s: %s", listener.name, job_id, CYCLIC)
            continue
        descriptor = services.merge_stored(listener.descriptor, {})
        if data is not None:
            descriptor["flowInput"] = merge_flow_input(listener.descriptor.get("flowInput"), {"parent": data})
        new_job = _start_once(
            TriggerKind.PIPELINE, job_id, listener.name, descriptor,
            types=TRIGGER_TYPES, parent_job_id=job_id, root_job_id=root,
        )  # fmt: skip
        if new_job:
            started.append(new_job)
    return started


def merge_flow_input(stored: Any, extra: dict[str, Any]) -> Any:
    """The stored flowInput deep-merged with `extra` (objects deeply, arrays by index), as
    HKube's `mergeWith` does for triggers. `merge_stored` replaces a flowInput, so the two
    are merged under a neutral key to reuse its merge."""
    merged = services.merge_stored({"value": stored}, {"value": extra})
    return merged["value"]


def job_tree(job_id: str) -> dict[str, Any]:
    """`exec/tree/{jobId}`: the jobs started by triggers from this root job, as
    `{name, jobId, children: [...]}`."""
    runs = list(
        TriggerRun.objects.filter(kind=TriggerKind.PIPELINE, root_job_id=job_id, job_id__isnull=False)
    )
    if not runs:
        raise NotFound("tree", job_id)
    children: dict[str, list[TriggerRun]] = defaultdict(list)
    for run in runs:
        children[run.source].append(run)
    root = Job.objects.filter(job_id=job_id).values_list("pipeline_name", flat=True).first()

    # Every triggered job is new, so the runs form a tree (no job is its own ancestor).
    def node(name: str, jid: str) -> dict[str, Any]:
        kids = children.get(jid, [])
        return {"name": name, "jobId": jid, "children": [node(r.pipeline_name, str(r.job_id)) for r in kids]}

    return node(root or "", job_id)


# --- the stored pipelines' trigger graph ---------------------------------------------------------


def trigger_edges(override: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """parent pipeline -> the pipelines it triggers, over the stored pipelines, with
    `override` (a descriptor about to be stored) in place of its stored version."""
    listeners: dict[str, list[str]] = {p.name: listens_to(p.descriptor) for p in _with_trigger("pipelines")}
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


def _names_on_cycles(edges: dict[str, list[str]]) -> set[str]:
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
    if str(descriptor.get("name")) in _names_on_cycles(trigger_edges(descriptor)):
        raise InvalidData(CYCLIC)


def triggers_tree(name: str | None = None) -> list[dict[str, Any]]:
    """`pipelines/triggers/tree`: `[{name, children: [...]}]` from every source pipeline
    (one that no other pipeline triggers), or the subtree of `name`."""
    if not any(listens_to(p.descriptor) for p in _with_trigger("pipelines")):
        raise InvalidData("unable to find any pipeline with triggers")
    edges = trigger_edges()
    if _names_on_cycles(edges):
        raise InvalidData(CYCLIC)

    def node(current: str) -> dict[str, Any]:
        return {"name": current, "children": [node(child) for child in edges[current]]}

    if name:
        if name not in edges:
            raise NotFound("triggers tree", name)
        return [node(name)]
    targets = {child for children in edges.values() for child in children}
    return [node(source) for source in edges if source not in targets]
