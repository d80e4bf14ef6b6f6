"""Graph previews: `POST store/pipelines/graph` (a descriptor), `GET store/pipelines/graph/{name}`
and `POST exec/getGraphByStreamingFlow` (a stream pipeline's flows)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import InvalidData
from pipelines import graph_preview

OBJ = {"type": "object", "additionalProperties": True}


class PipelineGraphPreview(APIView):
    @extend_schema(
        request={"application/json": OBJ}, responses={200: OBJ}, summary="The graph of a pipeline descriptor"
    )
    def post(self, request: Request) -> Response:
        return Response(graph_preview.preview_request(request.data))

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        raise InvalidData("data should have required property 'name'")  # HKube's no-name form


class StoredPipelineGraphPreview(APIView):
    @extend_schema(responses={200: OBJ}, summary="The graph of a stored pipeline")
    def get(self, request: Request, name: str) -> Response:
        return Response(graph_preview.stored_graph_preview(name))


class StreamingFlowGraph(APIView):
    @extend_schema(
        request={"application/json": OBJ},
        responses={200: OBJ},
        summary="The graph of a stream pipeline's flows (the UI's preview)",
    )
    def post(self, request: Request) -> Response:
        return Response(graph_preview.streaming_flow_graph(request.data))
