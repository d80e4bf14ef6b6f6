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
jobs trigger nothing, nor do pipelines whose triggers the admin turned off. Each start is
claimed first in `TriggerRun`, so a redelivered event or cron tick never starts a job twice;
those rows are also the triggers tree of `exec/tree`.
"""

from __future__ import annotations

import copy
import logging
from collections import defaultdict
from typing import Any

from celery import shared_task
from django.db import transaction

from hkube_site.errors import ApiError, InvalidData, NotFound
from hkube_site.queues import EVENTS
from hkube_site.validation import ValidationError
from pipelines import services
from pipelines.models import Job, JobStatus, Pipeline, TriggerKind, TriggerRun
from pipelines.stored_triggers import (
    CRON_TASK,
    CYCLIC,
    cron_of,
    listens_to,
    names_on_cycles,
    reconcile_crons,
    sync_cron,
    trigger_edges,
    with_trigger,
)

log = logging.getLogger(__name__)

RECONCILE_TASK = "pipelines.triggers.reconcile_crons"
DEFAULT_CRON_PATTERN = "0 * * * *"
CRON_TYPES = ["stored", "internal", "cron"]
TRIGGER_TYPES = ["internal", "stored", "trigger"]


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
    for pipeline in with_trigger("cron"):
        cron = cron_of(pipeline.descriptor)
        if cron is not None:
            listed.append({"name": pipeline.name, "cron": cron})
    return listed


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
    enabled = with_trigger("pipelines").filter(triggers_enabled=True)
    listeners = [p for p in enabled if parent.pipeline_name in listens_to(p.descriptor)]
    if not listeners:
        return []
    # Cycles are refused when pipelines are stored; a cycle that slipped in must not loop forever.
    cyclic = names_on_cycles(trigger_edges())
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


def triggers_tree(name: str | None = None) -> list[dict[str, Any]]:
    """`pipelines/triggers/tree`: `[{name, children: [...]}]` from every source pipeline
    (one that no other pipeline triggers), or the subtree of `name`."""
    if not any(listens_to(p.descriptor) for p in with_trigger("pipelines")):
        raise InvalidData("unable to find any pipeline with triggers")
    edges = trigger_edges()
    if names_on_cycles(edges):
        raise InvalidData(CYCLIC)

    def node(current: str) -> dict[str, Any]:
        return {"name": current, "children": [node(child) for child in edges[current]]}

    if name:
        if name not in edges:
            raise NotFound("triggers tree", name)
        return [node(name)]
    targets = {child for children in edges.values() for child in children}
    return [node(source) for source in edges if source not in targets]
