"""`versions/pipelines`: a stored pipeline's versions, applying one and aliasing one."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import InvalidData
from pipelines import services

OBJ = {"type": "object", "additionalProperties": True}


def required_strings(request: Request, *keys: str) -> dict[str, str]:
    """The body's required string properties, in order, with Ajv's messages."""
    body: Any = request.data
    if not isinstance(body, dict):
        raise InvalidData("data should be object")
    values: dict[str, str] = {}
    for key in keys:
        value = body.get(key)
        if value is None or value == "":
            raise InvalidData(f"data should have required property '{key}'")
        if not isinstance(value, str):
            raise InvalidData(f"data.{key} should be string")
        values[key] = value
    return values


class PipelineVersions(APIView):
    @extend_schema(responses={200: OBJ}, summary="Versions of a stored pipeline, newest first")
    def get(self, request: Request, name: str) -> Response:
        return Response(services.list_pipeline_versions(name))


class PipelineVersion(APIView):
    @extend_schema(responses={200: OBJ}, summary="One version of a stored pipeline")
    def get(self, request: Request, name: str, version: str) -> Response:
        return Response(services.get_pipeline_version(name, version))

    @extend_schema(responses={200: OBJ}, summary="Delete a version (not the current one)")
    def delete(self, request: Request, name: str, version: str) -> Response:
        return Response({"deleted": services.delete_pipeline_version(name, version)})


class ApplyPipelineVersion(APIView):
    @extend_schema(
        request={"application/json": OBJ}, responses={201: OBJ}, summary="Make a version the stored pipeline"
    )
    def post(self, request: Request) -> Response:
        body = required_strings(request, "name", "version")
        return Response(services.apply_pipeline_version(body["name"], body["version"]), status=201)


class AliasPipelineVersion(APIView):
    @extend_schema(request={"application/json": OBJ}, responses={200: OBJ}, summary="Name a version")
    def put(self, request: Request) -> Response:
        body = required_strings(request, "name", "version", "alias")
        return Response(services.alias_pipeline_version(body["name"], body["version"], body["alias"]))
