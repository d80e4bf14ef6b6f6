"""`gateway` and `gateway/{name}`: HKube's gateway algorithms (kind `gateway`, named
`<name>-gateway`). We run no streaming pipelines, so none is ever made here: the list is
empty unless such an algorithm was stored, and a name answers `404 gateway X Not Found`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from algorithms import listing
from hkube_site.errors import NotFound

OBJ = {"type": "object", "additionalProperties": True}


class Gateways(APIView):
    @extend_schema(responses={200: {"type": "array", "items": OBJ}}, summary="Gateway algorithms")
    def get(self, request: Request) -> Response:
        return Response([a.as_api() for a in listing.gateways()])


class Gateway(APIView):
    @extend_schema(responses={200: OBJ}, summary="One gateway algorithm (`<name>-gateway`)")
    def get(self, request: Request, name: str) -> Response:
        found = listing.gateway(name)
        if found is None:
            raise NotFound("gateway", name)
        return Response(found.as_api())
