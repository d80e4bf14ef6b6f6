"""`exec/*` control endpoints and reads (pause, resume, rerun, caching, algorithm, jobs,
auditTrail, flowInput, search). Views read the request, call one service, answer."""

from __future__ import annotations

import json

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.openapi import EMPTY_ERRORS, JSON_LIST
from pipelines import schema, search, services
from pipelines.api.views import DESCRIPTOR, JOB_ID, body_dict

OK = {"type": "object", "properties": {"message": {"type": "string"}}}
JOB_ID_BODY = {"type": "object", "properties": {"jobId": {"type": "string"}}, "required": ["jobId"]}


class ExecAlgorithm(APIView):
    @extend_schema(
        request={"application/json": DESCRIPTOR}, responses={200: JOB_ID}, summary="Run one algorithm"
    )
    def post(self, request: Request) -> Response:
        return Response({"jobId": services.run_algorithm(body_dict(request)).job_id})


class ExecRerun(APIView):
    @extend_schema(
        request={"application/json": JOB_ID_BODY},
        responses={200: JOB_ID},
        summary="Run a job's pipeline again",
    )
    def post(self, request: Request) -> Response:
        return Response({"jobId": services.rerun_job(body_dict(request)).job_id})


class ExecCaching(APIView):
    @extend_schema(
        request={"application/json": DESCRIPTOR},
        responses={200: JOB_ID},
        summary="Run a node and its descendants again",
    )
    def post(self, request: Request) -> Response:
        return Response({"jobId": services.run_from_node(body_dict(request)).job_id})


class ExecPause(APIView):
    @extend_schema(request={"application/json": JOB_ID_BODY}, responses={200: OK}, summary="Pause a job")
    def post(self, request: Request) -> Response:
        services.pause_job(schema.validate_pause(body_dict(request))["jobId"])
        return Response({"message": "OK"})


class ExecResume(APIView):
    @extend_schema(
        request={"application/json": JOB_ID_BODY}, responses={200: OK}, summary="Resume a paused job"
    )
    def post(self, request: Request) -> Response:
        services.resume_job(schema.validate_resume(body_dict(request))["jobId"])
        return Response({"message": "OK"})


class ExecJobs(APIView):
    @extend_schema(responses={200: JSON_LIST}, summary="Running jobs (or those in ?status=)")
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        raw = request.query_params.get("raw") == "true"
        return Response(search.running_jobs(status, raw))


class ExecAuditTrail(APIView):
    @extend_schema(responses={200: DESCRIPTOR, 404: OpenApiResponse(description="auditTrail X Not Found")})
    def get(self, request: Request, job_id: str) -> Response:
        return Response(search.audit_trail(job_id))


class ExecFlowInput(APIView):
    @extend_schema(
        responses={200: DESCRIPTOR, 404: OpenApiResponse(description="empty body")},
        extensions={EMPTY_ERRORS: True},
    )
    def get(self, request: Request, job_id: str) -> HttpResponse:
        data = search.flow_input(job_id)
        if data is None:
            return HttpResponse(status=404)  # HKube answers an empty 404 here, not the envelope
        response = HttpResponse(json.dumps(data), content_type="application/json")
        if request.query_params.get("download") not in (None, "", "false"):
            response["Content-Disposition"] = 'attachment;filename="flowInput.json"'
        return response


class ExecSearch(APIView):
    @extend_schema(responses={200: DESCRIPTOR}, summary="Search jobs (query parameters)")
    def get(self, request: Request) -> Response:
        return Response(search.search_jobs(search.search_query(request.query_params.dict())))

    @extend_schema(
        request={"application/json": DESCRIPTOR}, responses={200: DESCRIPTOR}, summary="Search jobs"
    )
    def post(self, request: Request) -> Response:
        return Response(search.search_jobs(body_dict(request)))
