"""`graph/raw/{jobId}` and `graph/parsed/{jobId}`: a job's runtime graph (pipelines.graph)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pipelines import graph
from pipelines.api.views import DESCRIPTOR, get_job

PARSED_PARAMETERS = [
    OpenApiParameter("node", OpenApiTypes.STR, description="only this node and its edges"),
    OpenApiParameter(
        "sort", OpenApiTypes.STR, description=f"batch item field: {', '.join(graph.SORT_FIELDS)}"
    ),
    OpenApiParameter("order", OpenApiTypes.STR, enum=["asc", "desc"]),
    OpenApiParameter("from", OpenApiTypes.INT, description="first batch item (after sorting)"),
    OpenApiParameter("to", OpenApiTypes.INT, description="end of the slice, exclusive"),
]


class GraphRaw(APIView):
    @extend_schema(
        responses={200: DESCRIPTOR, 404: OpenApiResponse(description="graph <jobId> Not Found")},
        summary="A job's runtime graph: nodes, batch items and edges",
    )
    def get(self, request: Request, job_id: str) -> Response:
        return Response(graph.graph_document(get_job(job_id, "graph")))


class GraphParsed(APIView):
    @extend_schema(
        parameters=PARSED_PARAMETERS,
        responses={200: DESCRIPTOR, 404: OpenApiResponse(description="graph/node <name> Not Found")},
        summary="A job's runtime graph, one node, batch items sorted and sliced",
    )
    def get(self, request: Request, job_id: str) -> Response:
        job = get_job(job_id, "graph")
        window = graph.Window.from_query(request.query_params)
        node = request.query_params.get("node") or None
        return Response(graph.graph_document(job, node=node, window=window))
