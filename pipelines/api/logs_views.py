"""The developer's aids: `exec/logs/{jobId}` (what the algorithms printed, pipelines/logs.py) and
where to connect a debugged algorithm, `debug/{algorithmName}` and `exec/debug/{jobId}`
(algorithms/debug.py). Views read the request, call one function, answer."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import InvalidData, Missing, NotFound
from pipelines import logs, ports
from pipelines.api.views import DESCRIPTOR, get_job

LOG_PARAMETERS = [
    OpenApiParameter("nodeName", OpenApiTypes.STR, description="only this node's tasks"),
    OpenApiParameter("taskId", OpenApiTypes.STR, description="only this task"),
    OpenApiParameter("batchIndex", OpenApiTypes.INT, description="only this batch item (0: a single task)"),
    OpenApiParameter(
        "limit", OpenApiTypes.INT, description=f"the last lines of each task (default {logs.DEFAULT_LIMIT})"
    ),
]


def _int_param(request: Request, name: str, minimum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidData(f"{name} should be integer") from None
    if value < minimum:
        raise InvalidData(f"{name} should be >= {minimum}")
    return value


class ExecLogs(APIView):
    @extend_schema(
        parameters=LOG_PARAMETERS,
        responses={200: DESCRIPTOR, 404: OpenApiResponse(description="logs <jobId> Not Found")},
        summary="What a job's algorithms printed, per task: {jobId, total, logs: [{nodeName, taskId, "
        "batchIndex, truncated, lines: [{timestamp, stream, message}]}]}",
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = get_job(job_id, "logs")
        limit = _int_param(request, "limit", 0)
        return Response(
            logs.job_logs(
                job.job_id,
                node_name=request.query_params.get("nodeName") or None,
                task_id=request.query_params.get("taskId") or None,
                batch_index=_int_param(request, "batchIndex", 0),
                limit=logs.DEFAULT_LIMIT if limit is None else limit,
            )
        )


class DebugAlgorithm(APIView):
    @extend_schema(
        responses={200: DESCRIPTOR, 404: OpenApiResponse(description="no debug worker listens")},
        summary="Where to connect a debugged algorithm: {algorithmName, url, workerId, since}",
    )
    def get(self, request: Request, name: str) -> Response:
        algorithms = ports.get()
        if not algorithms.existing([name]):
            raise NotFound("algorithm", name)
        info = algorithms.debug_info(name)
        if info is None:
            raise Missing(
                f"no debug worker listens for algorithm {name} yet: run a pipeline with a debug node of it "
                "(kind: debug, or its nodeName in options.debugOverride); its URL appears once its "
                "task is queued"
            )
        return Response(info)


class ExecDebug(APIView):
    @extend_schema(
        responses={200: DESCRIPTOR, 404: OpenApiResponse(description="debug <jobId> Not Found")},
        summary="A job's debug nodes and where to connect them: {jobId, nodes: [{nodeName, "
        "algorithmName, url}]}",
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = get_job(job_id, "debug")
        return Response({"jobId": job.job_id, "nodes": ports.get().debug_nodes(job.pipeline)})
