"""Pipeline versions (`versions/pipelines`): every stored change of a pipeline is one.

Storing or updating a pipeline records a version (`record_version`, called by `stored.py`
inside its transaction); applying a version makes its descriptor the stored pipeline again."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from hkube_site.errors import InvalidData, NotFound
from pipelines import stored_triggers
from pipelines.engine import ids
from pipelines.models import Pipeline, PipelineVersion, now_ms
from pipelines.services.common import audit_user

ALIAS_MAX = 64


def record_pipeline_version(pipeline: Pipeline) -> PipelineVersion:
    """The pipeline's current descriptor as a new version (its id is the pipeline's)."""
    last = PipelineVersion.objects.filter(pipeline_name=pipeline.name).order_by("-created", "-id").first()
    return PipelineVersion.objects.create(
        pipeline_name=pipeline.name,
        version=pipeline.version,
        semver=ids.next_semver(last.semver if last else None),
        descriptor=pipeline.descriptor,
        created=pipeline.modified,
        created_by=audit_user(),
    )


def _pipeline(name: str) -> Pipeline:
    pipeline = Pipeline.objects.filter(name=name).first()
    if pipeline is None:
        raise NotFound("pipeline", name)
    return pipeline


def _version(name: str, version: str) -> PipelineVersion:
    found = PipelineVersion.objects.filter(pipeline_name=name, version=version).first()
    if found is None:
        raise NotFound("version", version)
    return found


def list_pipeline_versions(name: str) -> list[dict[str, Any]]:
    _pipeline(name)
    versions = PipelineVersion.objects.filter(pipeline_name=name).order_by("-created", "-id")
    return [v.as_api() for v in versions]


def get_pipeline_version(name: str, version: str) -> dict[str, Any]:
    _pipeline(name)
    return _version(name, version).as_api()


def apply_pipeline_version(name: str, version: str) -> dict[str, Any]:
    """The version's descriptor becomes the stored pipeline; the audit trail names it."""
    with transaction.atomic():
        pipeline = Pipeline.objects.select_for_update().filter(name=name).first()
        if pipeline is None:
            raise NotFound("pipeline", name)
        found = _version(name, version)
        stamp = now_ms()
        pipeline.descriptor = found.descriptor
        pipeline.version = found.version
        pipeline.modified = stamp
        entry = {"user": audit_user(), "timestamp": stamp, "version": found.version}
        pipeline.audit_trail = [entry, *pipeline.audit_trail]
        pipeline.save()
        transaction.on_commit(lambda: stored_triggers.sync_cron(name))
    return found.as_api()


def alias_pipeline_version(name: str, version: str, alias: str) -> dict[str, Any]:
    if len(alias) > ALIAS_MAX:
        raise InvalidData(f"data.alias should NOT be longer than {ALIAS_MAX} characters")
    _pipeline(name)
    found = _version(name, version)
    found.alias = alias
    found.save(update_fields=["alias"])
    return found.as_api()


def delete_pipeline_version(name: str, version: str) -> int:
    pipeline = _pipeline(name)
    if pipeline.version == version:
        raise InvalidData("unable to remove the currently used version")
    found = _version(name, version)
    found.delete()
    return 1


def delete_pipeline_versions(name: str) -> int:
    """Every version of a pipeline (its deletion without `keepOldVersions`)."""
    deleted: int = PipelineVersion.objects.filter(pipeline_name=name).delete()[0]
    return deleted
