"""`webhooks/*`, `cron/*`, `pipelines/results|status|triggers/tree` and `exec/tree`.
Views read the request, call one function, answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import NotFound
from pipelines import history, schema, subpipelines, triggers, webhooks
from pipelines.api.views import body_dict
from pipelines.models import WebhookKind

ANY = {"type": "object", "additionalProperties": True}
LIST = {"type": "array", "items": ANY}
OK = {"type": "object", "properties": {"message": {"type": "string"}}}
NAME_PATTERN = {"type": "object", "properties": {"name": {"type": "string"}, "pattern": {"type": "string"}}}


def _record(job_id: str, kind: str) -> dict[str, Any]:
    found = webhooks.delivery(job_id, kind)
    if found is None:
        raise NotFound("webhook", job_id)
    return found.as_api()


class WebhookStatus(APIView):
    @extend_schema(responses={200: ANY}, summary="The progress webhook's last delivery")
    def get(self, request: Request, job_id: str) -> Response:
        return Response(_record(job_id, WebhookKind.PROGRESS))


class WebhookResults(APIView):
    @extend_schema(responses={200: ANY}, summary="The result webhook's delivery")
    def get(self, request: Request, job_id: str) -> Response:
        return Response(_record(job_id, WebhookKind.RESULT))


class WebhookList(APIView):
    @extend_schema(responses={200: ANY}, summary="Both webhook deliveries of a job")
    def get(self, request: Request, job_id: str) -> Response:
        result = webhooks.delivery(job_id, WebhookKind.RESULT)
        progress = webhooks.delivery(job_id, WebhookKind.PROGRESS)
        if result is None and progress is None:
            raise NotFound("webhook", job_id)
        return Response(
            {
                "jobId": job_id,
                "result": result.as_api() if result else None,
                "progress": progress.as_api() if progress else None,
            }
        )


class CronStart(APIView):
    @extend_schema(
        request={"application/json": NAME_PATTERN},
        responses={200: OK},
        summary="Enable a stored pipeline's cron",
    )
    def post(self, request: Request) -> Response:
        body = schema.validate_cron_start(body_dict(request))
        triggers.set_cron(body["name"], enabled=True, pattern=body.get("pattern"))
        return Response({"message": "OK"})


class CronStop(APIView):
    @extend_schema(
        request={"application/json": NAME_PATTERN},
        responses={200: OK},
        summary="Disable a stored pipeline's cron",
    )
    def post(self, request: Request) -> Response:
        body = schema.validate_cron_stop(body_dict(request))
        triggers.set_cron(body["name"], enabled=False)
        return Response({"message": "OK"})


class CronList(APIView):
    @extend_schema(responses={200: LIST}, summary="Stored pipelines with a cron trigger")
    def get(self, request: Request) -> Response:
        return Response(triggers.cron_list())


class CronResults(APIView):
    @extend_schema(responses={200: LIST}, summary="Results of cron-started jobs")
    def get(self, request: Request) -> Response:
        return Response(history.results(request.query_params, cron_only=True))


class CronStatus(APIView):
    @extend_schema(responses={200: LIST}, summary="Statuses of cron-started jobs")
    def get(self, request: Request) -> Response:
        return Response(history.statuses(request.query_params, cron_only=True))


class PipelinesResults(APIView):
    @extend_schema(responses={200: LIST}, summary="Results of a pipeline's jobs, newest first")
    def get(self, request: Request) -> Response:
        return Response(history.results(request.query_params))


class PipelinesStatus(APIView):
    @extend_schema(responses={200: LIST}, summary="Statuses of a pipeline's jobs, newest first")
    def get(self, request: Request) -> Response:
        return Response(history.statuses(request.query_params))


class PipelinesTriggersTree(APIView):
    @extend_schema(responses={200: LIST}, summary="Stored pipelines as a tree of triggers")
    def get(self, request: Request) -> Response:
        return Response(triggers.triggers_tree(request.query_params.get("name") or None))


class ExecTree(APIView):
    @extend_schema(responses={200: ANY}, summary="Jobs started from a root job: triggered and sub-pipelines")
    def get(self, request: Request, job_id: str) -> Response:
        return Response(subpipelines.job_tree(job_id))
