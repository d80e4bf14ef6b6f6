"""Stored pipelines (`store/pipelines`): validate, store, update, delete."""

from __future__ import annotations

import copy
from typing import Any

from django.db import transaction

from hkube_site.errors import AlreadyExists, InvalidData, NotFound
from pipelines import ports, schema, stored_triggers
from pipelines.engine import dag, ids
from pipelines.models import RUNNING_JOB_STATUSES, Job, Pipeline, Readme, ReadmeKind, now_ms
from pipelines.services import streams
from pipelines.services.common import _strip_server_fields, audit_user
from pipelines.services.ending import stop_job
from pipelines.services.pipeline_versions import delete_pipeline_versions, record_pipeline_version


def _check_algorithms_exist(descriptor: dict[str, Any]) -> None:
    wanted = [
        n["algorithmName"]
        for n in descriptor.get("nodes", [])
        if n.get("kind", "algorithm") in ("algorithm", "debug") and n.get("algorithmName")
    ]
    known = ports.get().existing(wanted)
    for name in wanted:
        if name not in known:
            raise NotFound("algorithm", name)


def _validate_stored(descriptor: dict[str, Any]) -> dict[str, Any]:
    descriptor = schema.validate_pipeline(descriptor, use_defaults=True)
    try:
        dag.build_graph(descriptor, check_flow_input=False)
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc
    streams.check_stream_rules(descriptor)
    _check_algorithms_exist(descriptor)
    streams.check_gateway_nodes(descriptor)
    stored_triggers.check_trigger_cycles(descriptor)
    return descriptor


def _sync_cron_after_commit(name: str) -> None:
    """Mirror the stored pipeline's cron trigger into beat (the reconcile loop would too)."""
    transaction.on_commit(lambda: stored_triggers.sync_cron(name))


def store_pipeline(descriptor: dict[str, Any]) -> Pipeline:
    descriptor = _validate_stored(_strip_server_fields(descriptor))
    name = descriptor["name"]
    if Pipeline.objects.filter(name=name).exists():
        raise AlreadyExists("pipeline", name)
    version = ids.version_id()
    stamp = now_ms()
    with transaction.atomic():
        pipeline = Pipeline.objects.create(
            name=name,
            descriptor=descriptor,
            version=version,
            created=stamp,
            modified=stamp,
            audit_trail=[{"user": audit_user(), "timestamp": stamp, "version": version}],
        )
        record_pipeline_version(pipeline)
    _sync_cron_after_commit(name)
    return pipeline


def update_pipeline(descriptor: dict[str, Any]) -> Pipeline:
    descriptor = _validate_stored(_strip_server_fields(descriptor))
    name = descriptor["name"]
    with transaction.atomic():
        pipeline = Pipeline.objects.select_for_update().filter(name=name).first()
        if pipeline is None:
            raise NotFound("pipeline", name)
        if pipeline.descriptor != descriptor:
            stamp = now_ms()
            pipeline.version = ids.version_id()
            pipeline.descriptor = descriptor
            pipeline.modified = stamp
            entry = {"user": audit_user(), "timestamp": stamp, "version": pipeline.version}
            pipeline.audit_trail = [entry, *pipeline.audit_trail]
            pipeline.save()
            record_pipeline_version(pipeline)
            _sync_cron_after_commit(name)
    return pipeline


def delete_pipeline(name: str, *, keep_old_versions: bool = False) -> str:
    """`keep_old_versions` keeps the version rows, so they are there if it is stored again."""
    pipeline = Pipeline.objects.filter(name=name).first()
    if pipeline is None:
        raise NotFound("pipeline", name)
    # Only jobs run from the stored pipeline; `types` is filtered in Python because JSON
    # containment lookups are not available on SQLite.
    candidates = Job.objects.filter(pipeline_name=name, status__in=RUNNING_JOB_STATUSES)
    running = [j for j in candidates if "stored" in (j.types or [])]
    stopped = sum(1 for job in running if stop_job(job.job_id, "pipeline has been deleted"))
    pipeline.delete()
    if not keep_old_versions:
        delete_pipeline_versions(name)
    Readme.objects.filter(kind=ReadmeKind.PIPELINE, name=name).delete()
    _sync_cron_after_commit(name)
    message = f"pipeline {name} successfully deleted from store"
    if running:
        message += f", stopped related running pipelines {stopped}/{len(running)}"
    return message


def set_pipeline_triggers(name: str, *, enabled: bool) -> Pipeline:
    """Turn a stored pipeline's pipeline triggers (`triggers.pipelines`) on or off: while
    off, a completed parent starts nothing (`pipelines.triggers.on_job_finished`)."""
    changed = Pipeline.objects.filter(name=name).update(triggers_enabled=enabled)
    if not changed:
        raise NotFound("pipeline", name)
    return Pipeline.objects.get(name=name)


def merge_stored(stored: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """HKube's exec/stored merge: objects merge deeply, arrays merge by index, and a
    given flowInput replaces the stored one."""

    def merge(base: Any, extra: Any) -> Any:
        if isinstance(base, dict) and isinstance(extra, dict):
            out = dict(base)
            for key, value in extra.items():
                out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
            return out
        if isinstance(base, list) and isinstance(extra, list):
            out_list = list(base)
            for i, value in enumerate(extra):
                if i < len(out_list):
                    out_list[i] = merge(out_list[i], value)
                else:
                    out_list.append(copy.deepcopy(value))
            return out_list
        return copy.deepcopy(extra)

    flow_input = overrides.get("flowInput")
    rest = {k: v for k, v in overrides.items() if k != "flowInput"}
    merged: dict[str, Any] = merge(_strip_server_fields(stored), rest)
    if "flowInput" in overrides:
        merged["flowInput"] = copy.deepcopy(flow_input)
    return merged
