"""`versions/algorithms/tag` and `versions/algorithms/alias` (the rest of `versions/algorithms`
is in `views.py`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from algorithms import version_labels
from hkube_site.errors import InvalidData

OBJ = {"type": "object", "additionalProperties": True}


def _body(request: Request, *required: str) -> dict[str, Any]:
    body: Any = request.data
    if not isinstance(body, dict):
        raise InvalidData("data should be object")
    for key in required:
        value = body.get(key)
        if value is None or value == "":
            raise InvalidData(f"data should have required property '{key}'")
        if not isinstance(value, str):
            raise InvalidData(f"data.{key} should be string")
    return body


class TagAlgorithmVersion(APIView):
    @extend_schema(
        request={"application/json": OBJ}, responses={201: OBJ}, summary="Tag (and pin) an algorithm version"
    )
    def post(self, request: Request) -> Response:
        body = _body(request, "name", "version")
        pinned = body.get("pinned", False)
        if not isinstance(pinned, bool):
            raise InvalidData("data.pinned should be boolean")
        tags = body.get("tags", [])
        if not isinstance(tags, list):
            raise InvalidData("data.tags should be array")
        for index, tag in enumerate(tags):
            if not isinstance(tag, str):
                raise InvalidData(f"data.tags[{index}] should be string")
        found = version_labels.tag_version(body["name"], body["version"], pinned=pinned, tags=tags)
        return Response(found, status=201)


class AliasAlgorithmVersion(APIView):
    @extend_schema(
        request={"application/json": OBJ}, responses={200: OBJ}, summary="Name an algorithm version"
    )
    def put(self, request: Request) -> Response:
        body = _body(request, "name", "version", "alias")
        return Response(version_labels.alias_version(body["name"], body["version"], body["alias"]))
