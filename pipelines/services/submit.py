"""Submitting jobs: validation, the flowInput to storage, the job row, start after commit."""

from __future__ import annotations

import copy
from typing import Any

from django.db import transaction

from hkube_site.errors import InvalidData, NotFound
from hkube_site.object_store import get_storage
from pipelines import events, messages, schema
from pipelines.engine import dag, ids, nesting
from pipelines.models import (
    FINAL_JOB_STATUSES,
    RUNNING_JOB_STATUSES,
    Job,
    JobStatus,
    Pipeline,
    now_ms,
)
from pipelines.services import holding, streams
from pipelines.services.common import _strip_server_fields, audit_user, cluster
from pipelines.services.experiments import DEFAULT_EXPERIMENT, check_experiment_exists
from pipelines.services.stored import _check_algorithms_exist
from storage import paths


def submit_job(
    descriptor: dict[str, Any],
    *,
    types: list[str],
    validate_nodes: bool = True,
    parent_job_id: str | None = None,
    root_job_id: str | None = None,
    internal: bool = False,
) -> Job:
    """Validate a pipeline, store its flowInput, create the job, and start it after commit.

    `internal` callers (rerun, run-from-node) may carry `cachedOutputs`, the old job's
    outputs of parents outside the re-run part; from users that key is dropped."""
    if not internal:
        descriptor = {k: v for k, v in descriptor.items() if k != "cachedOutputs"}
    user_pipeline = copy.deepcopy(descriptor)
    descriptor = schema.validate_pipeline(_strip_server_fields(copy.deepcopy(descriptor)), use_defaults=True)
    if not descriptor.get("nodes"):
        raise InvalidData("pipeline must have at least one node")
    try:
        dag.build_graph(descriptor, check_flow_input=False)
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc
    streams.check_stream_rules(descriptor)
    descriptor = _expand_pipeline_nodes(descriptor)
    _check_algorithms_exist(descriptor)
    descriptor = streams.prepare_stream(descriptor)
    _check_concurrency(descriptor)
    held = holding.is_held(descriptor, descriptor["name"], descriptor.get("experimentName", "main"))

    job_id = ids.job_id()
    flow_input = descriptor.pop("flowInput", None)
    metadata: dict[str, Any] | None = descriptor.pop("flowInputMetadata", None)
    if metadata is None:
        metadata = {"metadata": {}}
        if flow_input is not None:
            flow_path = paths.flow_input(cluster(), job_id)
            get_storage().put(flow_path, flow_input)
            wanted = dag.flow_input_paths(descriptor)
            metadata = {
                "metadata": dag.flow_input_metadata(flow_input, wanted),
                "storageInfo": {"path": flow_path},
            }
    try:
        dag.build_graph(descriptor, flow_input_metadata=metadata, check_flow_input=validate_nodes)
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc
    check_experiment_exists(descriptor.get("experimentName", DEFAULT_EXPERIMENT))

    stamp = now_ms()
    executed = {
        **descriptor,
        "flowInput": None,
        "flowInputMetadata": metadata,
        "startTime": stamp,
        "types": types,
        "lastRunResult": _last_run_result(descriptor),
        "maxExceeded": held,
    }
    if root_job_id:  # triggered, sub-pipeline and run-from-node jobs name their root job, as HKube's
        executed["rootJobId"] = root_job_id
    with transaction.atomic():
        job = Job.objects.create(
            job_id=job_id,
            pipeline_name=descriptor["name"],
            experiment=descriptor.get("experimentName", "main"),
            priority=descriptor.get("priority", 3),
            pipeline=executed,
            user_pipeline={**user_pipeline, "flowInput": None, "flowInputMetadata": metadata},
            types=types,
            tags=descriptor.get("tags") or [],
            external_id=descriptor.get("externalId"),
            parent_job_id=parent_job_id,
            root_job_id=root_job_id,
            start_time=stamp,
            status_timestamp=stamp,
            audit_trail=[{"timestamp": stamp, "user": audit_user(), "action": "run"}],
            max_exceeded=held,
        )
        streams.create_gateways(job_id, executed)
        if not held:  # a held job starts when a slot frees (holding.release_held_jobs)
            transaction.on_commit(lambda: enqueue_start(job_id, job.priority))
        events.status_changed(job, JobStatus.PENDING)
    return job


def exec_answer(job: Job) -> dict[str, Any]:
    """The answer to a submission: `{jobId}`, plus `gateways: [{nodeName, url}]` for a stream
    job with gateway nodes (HKube leaves the key out otherwise)."""
    answer: dict[str, Any] = {"jobId": job.job_id}
    gateways = streams.gateways_of(job.pipeline)
    if gateways:
        answer["gateways"] = gateways
    return answer


def _expand_pipeline_nodes(descriptor: dict[str, Any]) -> dict[str, Any]:
    """`kind: pipeline` nodes replaced by their stored pipelines' nodes (HKube's request-time
    expansion, `engine.nesting`); an unknown pipeline is HKube's 404 `pipeline P Not Found`."""
    if not nesting.has_pipeline_nodes(descriptor):
        return descriptor

    def lookup(name: str) -> dict[str, Any] | None:
        stored = Pipeline.objects.filter(name=name).values_list("descriptor", flat=True).first()
        return None if stored is None else dict(stored)

    try:
        return nesting.expand(descriptor, lookup)
    except nesting.PipelineNotFound as exc:
        raise NotFound("pipeline", exc.name) from exc
    except nesting.PipelineCycle as exc:
        raise InvalidData(exc.message) from exc


def enqueue_start(job_id: str, priority: int) -> None:
    messages.send_start_job(job_id, priority)


def _check_concurrency(descriptor: dict[str, Any]) -> None:
    limit = (descriptor.get("options") or {}).get("concurrentPipelines")
    if not limit:
        return
    running = Job.objects.filter(
        pipeline_name=descriptor["name"],
        experiment=descriptor.get("experimentName", "main"),
        status__in=RUNNING_JOB_STATUSES,
    ).count()
    if running >= limit["amount"] and limit.get("rejectOnFailure", True):
        raise InvalidData(f"maximum number [{limit['amount']}] of concurrent pipelines has been reached")


def _last_run_result(descriptor: dict[str, Any]) -> dict[str, Any] | None:
    last = (
        Job.objects.filter(
            pipeline_name=descriptor["name"],
            experiment=descriptor.get("experimentName", "main"),
            status__in=FINAL_JOB_STATUSES,
        )
        .order_by("-start_time")
        .values("status", "end_time", "start_time")
        .first()
    )
    if not last or last["end_time"] is None:
        return None
    return {
        "timestamp": last["end_time"],
        "status": last["status"],
        "timeTook": round((last["end_time"] - last["start_time"]) / 1000, 3),
    }


def load_flow_input(job: Job) -> Any:
    storage_info = ((job.pipeline or {}).get("flowInputMetadata") or {}).get("storageInfo")
    if not storage_info:
        return None
    return get_storage().get(storage_info["path"])
