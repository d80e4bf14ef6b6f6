"""`builds` endpoints: a build's status and log, an algorithm's builds, stop, rerun."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from builds import services
from hkube_site.errors import InvalidData
from hkube_site.openapi import JSON_LIST

OBJ = {"type": "object", "additionalProperties": True}


class BuildStatus_(APIView):
    @extend_schema(responses={200: OBJ}, summary="A build: status, progress, log")
    def get(self, request: Request, build_id: str = "") -> Response:
        if not build_id:
            raise InvalidData("data should have required property 'buildId'")
        return Response(services.get_build(build_id).as_api())


class BuildList(APIView):
    @extend_schema(responses={200: JSON_LIST}, summary="Builds of an algorithm")
    def get(self, request: Request, name: str) -> Response:
        order = request.query_params.get("sort", "desc")
        if order not in ("asc", "desc"):
            raise InvalidData("data.sort should be equal to one of the allowed values (asc,desc)")
        limit = request.query_params.get("limit")
        if limit:
            if not limit.isdigit():
                raise InvalidData("data.limit should be integer")
            if int(limit) < 1:
                raise InvalidData("data.limit should be >= 1")
        builds = services.list_builds(name, newest_first=order == "desc", limit=int(limit) if limit else None)
        return Response([b.as_api() for b in builds])


def _build_id(request: Request) -> str:
    build_id = request.data.get("buildId") if isinstance(request.data, dict) else None
    if not build_id:
        raise InvalidData("data should have required property 'buildId'")
    return str(build_id)


class BuildStop(APIView):
    @extend_schema(request={"application/json": OBJ}, responses={200: OBJ}, summary="Stop a build")
    def post(self, request: Request) -> Response:
        services.stop_build(_build_id(request))
        return Response({"message": "OK"})


class BuildRerun(APIView):
    @extend_schema(request={"application/json": OBJ}, responses={200: OBJ}, summary="Run a build again")
    def post(self, request: Request) -> Response:
        services.rerun_build(_build_id(request))
        return Response({"message": "OK"})
