"""`exec/*` and `store/pipelines` endpoints. Views read the request, call one service, answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import AlreadyExists, ApiError, InvalidData, NotFound
from hkube_site.openapi import JSON_LIST, OBJECT_OR_LIST
from hkube_site.validation import ValidationError
from pipelines import schema, services
from pipelines.models import FINAL_JOB_STATUSES, Job, Pipeline

DESCRIPTOR = {"type": "object", "additionalProperties": True}
JOB_ID = {"type": "object", "properties": {"jobId": {"type": "string"}}}
# `gateways` only for a stream pipeline with gateway nodes.
SUBMITTED = {
    "type": "object",
    "properties": {
        "jobId": {"type": "string"},
        "gateways": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"nodeName": {"type": "string"}, "url": {"type": "string"}},
            },
        },
    },
}


def body_dict(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise InvalidData("data should be object")
    return dict(data)


def get_job(job_id: str, kind: str = "status") -> Job:
    job = Job.objects.filter(job_id=job_id).first()
    if job is None:
        raise NotFound(kind, job_id)
    return job


class ExecRaw(APIView):
    @extend_schema(
        request={"application/json": DESCRIPTOR},
        responses={200: SUBMITTED},
        summary="Run a pipeline given inline",
    )
    def post(self, request: Request) -> Response:
        job = services.submit_job(body_dict(request), types=["raw"])
        return Response(services.exec_answer(job))


class ExecStored(APIView):
    @extend_schema(
        request={"application/json": DESCRIPTOR}, responses={200: SUBMITTED}, summary="Run a stored pipeline"
    )
    def post(self, request: Request) -> Response:
        body = schema.validate_exec_stored(body_dict(request))
        stored = Pipeline.objects.filter(name=body["name"]).first()
        if stored is None:
            raise NotFound("pipeline", body["name"])
        descriptor = services.merge_stored(stored.descriptor, body)
        job = services.submit_job(descriptor, types=["stored"])
        return Response(services.exec_answer(job))


class ExecStatus(APIView):
    @extend_schema(responses={200: DESCRIPTOR}, summary="A job's status and progress")
    def get(self, request: Request, job_id: str = "") -> Response:
        if not job_id:
            raise InvalidData("data should have required property 'jobId'")
        return Response(services.status_object(get_job(job_id)))


class ExecResults(APIView):
    @extend_schema(responses={200: DESCRIPTOR}, summary="A finished job's results")
    def get(self, request: Request, job_id: str = "") -> Response:
        if not job_id:
            raise InvalidData("data should have required property 'jobId'")
        return Response(services.result_object(get_job(job_id)))


class ExecStop(APIView):
    @extend_schema(
        request={"application/json": DESCRIPTOR},
        responses={200: DESCRIPTOR},
        summary="Stop jobs (by jobId, pipeline...)",
    )
    def post(self, request: Request) -> Response:
        body = schema.validate_stop(body_dict(request))
        statuses = body.get("statusToStop")
        if isinstance(statuses, str):
            statuses = [s for s in statuses.split(",") if s]
        start = body.get("startTime") or {}
        stopped = services.stop_jobs(
            job_id=body.get("jobId"),
            pipeline_name=body.get("pipelineName"),
            statuses=statuses,
            date_from=_ms(start.get("from")),
            date_to=_ms(start.get("to")),
            reason=body.get("reason"),
        )
        return Response({"stoppedJobIds": stopped})


def _ms(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError as exc:
        raise InvalidData(f"invalid date {value!r} in startTime") from exc


def executed_pipeline(job: Job) -> dict[str, Any]:
    return {"jobId": job.job_id, **job.pipeline, "flowInput": services.load_flow_input(job)}


class ExecPipelineList(APIView):
    @extend_schema(responses={200: JSON_LIST}, summary="Pipelines of running jobs")
    def get(self, request: Request) -> Response:
        running = Job.objects.exclude(status__in=FINAL_JOB_STATUSES)
        return Response([{"jobId": j.job_id, **j.pipeline} for j in running])


class ExecPipeline(APIView):
    @extend_schema(responses={200: DESCRIPTOR}, summary="The pipeline a job executes")
    def get(self, request: Request, job_id: str) -> Response:
        return Response(executed_pipeline(get_job(job_id, "pipeline")))


class StorePipelines(APIView):
    @extend_schema(responses={200: JSON_LIST}, summary="All stored pipelines")
    def get(self, request: Request) -> Response:
        return Response([p.as_api() for p in Pipeline.objects.all()])

    @extend_schema(
        request={"application/json": DESCRIPTOR},
        responses={201: OBJECT_OR_LIST},
        summary="Store a pipeline (or an array)",
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if isinstance(data, list):
            overwrite = request.query_params.get("overwrite") == "true"
            return Response([_store_item(item, overwrite) for item in data], status=201)
        return Response(services.store_pipeline(body_dict(request)).as_api(), status=201)

    @extend_schema(
        request={"application/json": DESCRIPTOR},
        responses={200: DESCRIPTOR},
        summary="Update a stored pipeline",
    )
    def put(self, request: Request) -> Response:
        return Response(services.update_pipeline(body_dict(request)).as_api())


def _store_item(item: Any, overwrite: bool) -> dict[str, Any]:
    try:
        if not isinstance(item, dict):
            raise InvalidData("data should be object")
        try:
            return services.store_pipeline(item).as_api()
        except AlreadyExists:
            if not overwrite:
                raise
            return services.update_pipeline(item).as_api()
    except ApiError as exc:
        return {"error": {"name": item.get("name") if isinstance(item, dict) else None,
                          "code": exc.status, "message": exc.message}}  # fmt: skip
    except ValidationError as exc:
        return {"error": {"code": 400, "message": exc.message}}


class StorePipeline(APIView):
    @extend_schema(responses={200: DESCRIPTOR, 404: OpenApiResponse(description="pipeline X Not Found")})
    def get(self, request: Request, name: str) -> Response:
        pipeline = Pipeline.objects.filter(name=name).first()
        if pipeline is None:
            raise NotFound("pipeline", name)
        return Response(pipeline.as_api())

    @extend_schema(responses={200: DESCRIPTOR})
    def delete(self, request: Request, name: str) -> Response:
        keep = request.query_params.get("keepOldVersions") == "true"
        return Response({"message": services.delete_pipeline(name, keep_old_versions=keep)})
