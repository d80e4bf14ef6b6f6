"""`queue/*`: the jobs waiting to start, as HKube's pipeline-driver-queue serves them
(count, the managed and preferred lists, their aggregations, moving jobs to the preferred
queue and back)."""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import InvalidData
from pipelines import services

OBJ = {"type": "object", "additionalProperties": True}
LIST = {"type": "array", "items": OBJ}


def _page(request: Request) -> services.Page:
    params = request.query_params
    raw = params.get("pageSize", "10")
    try:
        size = int(raw)
    except ValueError as exc:
        raise InvalidData("data.pageSize should be integer") from exc
    if size < 1:
        raise InvalidData("data.pageSize should be >= 1")
    last_jobs = params.get("lastJobs", "false")
    if last_jobs not in ("true", "false"):
        raise InvalidData("data.lastJobs should be boolean")
    return services.Page(
        size=size,
        first_job_id=params.get("firstJobId") or None,
        last_job_id=params.get("lastJobId") or None,
        last_jobs=last_jobs == "true",
        pipeline_name=params.get("pipelineName") or None,
        tag=params.get("tag") or None,
    )


def _job_ids(body: Any) -> list[str]:
    if not isinstance(body, dict):
        raise InvalidData("data should be object")
    jobs = body.get("jobs")
    if jobs is None:
        raise InvalidData("data should have required property 'jobs'")
    if not isinstance(jobs, list):
        raise InvalidData("data.jobs should be array")
    for index, job_id in enumerate(jobs):
        if not isinstance(job_id, str):
            raise InvalidData(f"data.jobs[{index}] should be string")
    return jobs


class QueueCount(APIView):
    @extend_schema(responses={200: OBJ}, summary="How many jobs wait in the managed and preferred queues")
    def get(self, request: Request) -> Response:
        return Response(services.queue_count())


class ManagedQueue(APIView):
    @extend_schema(
        responses={200: OBJ}, summary="A page of the managed queue (pageSize, firstJobId, lastJobId...)"
    )
    def get(self, request: Request) -> Response:
        return Response(services.queue_page("managed", _page(request)))


class PreferredQueue(APIView):
    @extend_schema(responses={200: OBJ}, summary="A page of the preferred queue")
    def get(self, request: Request) -> Response:
        return Response(services.queue_page("preferred", _page(request)))

    @extend_schema(
        request={"application/json": OBJ},
        responses={201: LIST},
        summary="Move jobs to the preferred queue {jobs, position: first|last|before|after, query}",
    )
    def post(self, request: Request) -> Response:
        jobs = _job_ids(request.data)
        body: dict[str, Any] = dict(request.data)
        position = body.get("position")
        if position is None:
            raise InvalidData("data should have required property 'position'")
        query = body.get("query") or {}
        if not isinstance(query, dict):
            raise InvalidData("data.query should be object")
        return Response(services.add_preferred(jobs, str(position), query), status=201)


class PreferredDeletes(APIView):
    @extend_schema(
        request={"application/json": OBJ}, responses={200: LIST}, summary="Back to the managed queue {jobs}"
    )
    def post(self, request: Request) -> Response:
        return Response(services.remove_preferred(_job_ids(request.data)))


def _aggregation(queue: Literal["managed", "preferred"]) -> type[APIView]:
    class Aggregation(APIView):
        @extend_schema(responses={200: LIST}, summary=f"The {queue} queue counted per pipeline or tag")
        def get(self, request: Request, by: Literal["pipeline", "tag"]) -> Response:
            return Response(services.queue_aggregation(queue, by))

    Aggregation.__name__ = f"{queue.title()}Aggregation"
    return Aggregation


ManagedAggregation = _aggregation("managed")
PreferredAggregation = _aggregation("preferred")
