"""Gateways: `gateway` and `gateway/{name}` (HKube's gateway algorithms: kind `gateway`, named
`<name>-gateway`, made when a stream job with gateway nodes is submitted), and
`/hkube/gateway/<name>/streaming/message` and `.../streaming/info` (a stream job's gateway,
served by the API as HKube's ingress path serves its gateway algorithm: `gateway_ingress.py`)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from algorithms import gateway_ingress, listing
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


class GatewayMessage(APIView):
    @extend_schema(
        request={"application/json": {}},
        responses={200: OBJ},
        summary="Send a message into a stream job's flow",
    )
    def post(self, request: Request, name: str) -> Response:
        gateway = gateway_ingress.find(name)
        flow = request.query_params.get("flow") or request.query_params.get("flowName")
        return Response(gateway_ingress.send(gateway, request.data, flow))


class GatewayInfo(APIView):
    @extend_schema(responses={200: OBJ}, summary="A gateway's job")
    def get(self, request: Request, name: str) -> Response:
        return Response(gateway_ingress.info(gateway_ingress.find(name)))
