"""`GET jaeger?jobId=`: a job's trace from Jaeger when tracing is on, `{data: []}` otherwise."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import InvalidData
from pipelines import job_traces

OBJ = {"type": "object", "additionalProperties": True}


class JaegerTrace(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("jobId", str, required=True)],
        responses={200: OBJ},
        summary="The job's trace (Jaeger's query API shape)",
    )
    def get(self, request: Request) -> Response:
        job_id = request.query_params.get("jobId")
        if not job_id:
            raise InvalidData("data should have required property 'jobId'")
        return Response(job_traces.job_trace(job_id))
