"""`gc/clean[/{type}]`, `gc/dryrun[/{type}]` and `gc/status[/{type}]` (HKube's gc-service API)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from algorithms import gc
from hkube_site.errors import InvalidData

OBJ = {"type": "object", "additionalProperties": True}
LIST = {"type": "array", "items": OBJ}


def _max_age(request: Request) -> float | None:
    body: Any = request.data
    if body is None or body == "":
        return None
    if not isinstance(body, dict):
        raise InvalidData("data should be object")
    value = body.get("maxAge")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidData("data.maxAge should be number")
    if value < 0:
        raise InvalidData("data.maxAge should be >= 0")
    return float(value)


class _Run(APIView):
    dry_run = False

    @extend_schema(
        request={"application/json": OBJ},
        responses={200: LIST},
        summary="Run the cleaners (or one) with {maxAge: minutes}; [{name, count, sample}]",
    )
    def post(self, request: Request, cleaner: str | None = None) -> Response:
        return Response(gc.run(cleaner, _max_age(request), dry_run=self.dry_run))


class GcClean(_Run):
    dry_run = False


class GcDryRun(_Run):
    dry_run = True


class GcStatus(APIView):
    @extend_schema(responses={200: LIST}, summary="The cleaners, their default maxAge and their last run")
    def get(self, request: Request, cleaner: str | None = None) -> Response:
        return Response(gc.status(cleaner))
