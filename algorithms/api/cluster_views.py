"""`resources/unscheduledalgorithms`, `resources/ignoredunscheduledalgorithms` and
`kubernetes/algorithms/jobs|pods/{name}`: what the executor cannot place, and stopping an
algorithm's workers. As in HKube, their not-found answers are strings, not the error envelope.

HKube's scheduler sets aside ("ignores") the warnings of algorithms it stopped trying to
place; our executor keeps trying every tick, so that map is always empty here."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from algorithms import resources
from algorithms.worker_control import stop_algorithm_workers
from hkube_site.errors import InvalidData
from hkube_site.openapi import OWN_ERRORS

OBJ = {"type": "object", "additionalProperties": True}
SELECTOR_KEY = "algorithm-name"


def _warnings() -> dict[str, dict[str, Any]]:
    return {
        name: {k: v for k, v in warning.items() if k != "since"}
        for name, warning in sorted(resources.unscheduled().items())
    }


class UnscheduledAlgorithms(APIView):
    @extend_schema(responses={200: OBJ}, summary="Algorithms the executor cannot place, with HKube's warning")
    def get(self, request: Request) -> Response:
        return Response(_warnings())


class UnscheduledAlgorithm(APIView):
    @extend_schema(
        responses={200: OBJ, (404, "text/plain"): {"type": "string"}},
        extensions={OWN_ERRORS: True},
        summary="One unscheduled algorithm",
    )
    def get(self, request: Request, name: str) -> HttpResponse:
        warning = _warnings().get(name)
        if warning is None:
            return _not_unscheduled(name)
        return Response(warning)


def _not_unscheduled(name: str) -> HttpResponse:
    return HttpResponse(
        f"Algorithm {name} not found in the unscheduled list", status=404, content_type="text/plain"
    )


class IgnoredUnscheduledAlgorithms(APIView):
    @extend_schema(responses={200: OBJ}, summary="Unscheduled algorithms set aside (none here)")
    def get(self, request: Request) -> Response:
        return Response({})


class IgnoredUnscheduledAlgorithm(APIView):
    @extend_schema(
        responses={(404, "text/plain"): {"type": "string"}},
        extensions={OWN_ERRORS: True},
        summary="One ignored unscheduled algorithm (none here)",
    )
    def get(self, request: Request, name: str) -> HttpResponse:
        return _not_unscheduled(name)


def _selected(request: Request, name: str) -> str:
    selector = request.query_params.get("selector")
    if not selector:
        return name
    key, _, value = selector.partition("=")
    if key.strip() != SELECTOR_KEY or not value.strip():
        raise InvalidData(f"selector should be {SELECTOR_KEY}=<algorithm name>")
    return value.strip()


class _StopWorkers(APIView):
    kind = ""

    @extend_schema(
        responses={200: OBJ, 404: {"type": "string"}},
        extensions={OWN_ERRORS: True},
        summary="Stop the algorithm's workers (selector: algorithm-name=<name>)",
    )
    def delete(self, request: Request, name: str) -> Response:
        algorithm = _selected(request, name)
        stopped = stop_algorithm_workers(algorithm)
        if not stopped:
            return Response(f"No {self.kind} found with selector {SELECTOR_KEY}={algorithm}", status=404)
        return Response({"message": stopped})


class StopAlgorithmPods(_StopWorkers):
    kind = "pods"


class StopAlgorithmJobs(_StopWorkers):
    kind = "jobs"
