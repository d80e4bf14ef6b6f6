"""`storage/values|stream|download`: stored objects by path, and a job's results as a zip.

A path may contain slashes (`storage/stream/custom/local-hkube/<jobId>/<taskId>`). Errors
are HKube's: `value <path> Not Found` and `stream <path> Not Found` (404), a path that
leaves the storage or names no object of it a 400 with the storage's message, and
`data too large (205 kB), use the stream api` (400) from `storage/values`. The reading
itself is in `pipelines.outputs`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import InvalidData, NotFound
from hkube_site.openapi import JSON_LIST, OBJECT_OR_LIST
from pipelines import outputs, storage_browser
from pipelines.api.views import get_job
from storage import StorageError

T = TypeVar("T")

EXT = OpenApiParameter("ext", OpenApiTypes.STR, description="file extension of the attachment's name")
BYTES = OpenApiResponse(description="the object's bytes")


def _read(kind: str, path: str, read: Callable[[], T]) -> T:
    """Run one storage read, turning storage errors into HKube's API errors."""
    try:
        return read()
    except outputs.ObjectMissing as exc:
        raise NotFound(kind, path) from exc
    except (StorageError, ValueError) as exc:
        raise InvalidData(str(exc)) from exc


def _attachment(
    response: HttpResponse | StreamingHttpResponse, ext: str | None, namefile: str | None = None
) -> None:
    base = namefile or "hkube-result"
    name = f"{base}.{ext}" if ext and not base.endswith(f".{ext}") else base
    response["Content-Disposition"] = f"attachment; filename={name}"
    response["Content-Type"] = outputs.OCTETS


def _stream(chunks: Iterator[bytes], content_type: str) -> StreamingHttpResponse:
    return StreamingHttpResponse(chunks, content_type=content_type)


class StorageValue(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.ANY, 404: OpenApiResponse(description="value <path> Not Found")},
        summary="A stored object, decoded (refused at or above the results threshold)",
    )
    def get(self, request: Request, path: str) -> HttpResponse:
        value = _read("value", path, lambda: outputs.read_value(path))
        return HttpResponse(outputs.json_bytes(value), content_type="application/json")


class StorageStreamCustom(APIView):
    @extend_schema(
        responses={200: BYTES, 404: OpenApiResponse(description="stream <path> Not Found")},
        summary="A stored object: raw bytes without HKube's header, or the value as JSON",
    )
    def get(self, request: Request, path: str) -> StreamingHttpResponse:
        chunks, content_type = _read("stream", path, lambda: outputs.custom_stream(path))
        return _stream(chunks, content_type)


class StorageStream(APIView):
    @extend_schema(
        responses={200: BYTES, 404: OpenApiResponse(description="stream <path> Not Found")},
        summary="A stored object's bytes, exactly as stored",
    )
    def get(self, request: Request, path: str) -> StreamingHttpResponse:
        return _stream(_read("stream", path, lambda: outputs.raw_stream(path)), outputs.OCTETS)


class StorageDownloadCustom(APIView):
    @extend_schema(
        parameters=[EXT], responses={200: BYTES}, summary="storage/stream/custom, as an attachment"
    )
    def get(self, request: Request, path: str) -> StreamingHttpResponse:
        chunks, _ = _read("stream", path, lambda: outputs.custom_stream(path))
        response = _stream(chunks, outputs.OCTETS)
        _attachment(response, request.query_params.get("ext"), request.query_params.get("namefile"))
        return response


class StorageDownload(APIView):
    @extend_schema(parameters=[EXT], responses={200: BYTES}, summary="storage/stream, as an attachment")
    def get(self, request: Request, path: str) -> StreamingHttpResponse:
        response = _stream(_read("stream", path, lambda: outputs.raw_stream(path)), outputs.OCTETS)
        _attachment(response, request.query_params.get("ext"), request.query_params.get("namefile"))
        return response


class StorageDownloadResults(APIView):
    @extend_schema(
        responses={200: BYTES, 404: OpenApiResponse(description="results <jobId> Not Found")},
        summary="A completed job's results as a zip (big results as files, metadata.json)",
    )
    def get(self, request: Request, job_id: str, file_name: str | None = None) -> FileResponse:
        """The optional last segment names the attachment (the dashboard sends one)."""
        job = get_job(job_id, "results")
        archive = _read("results", job_id, lambda: outputs.results_archive(job))
        response = FileResponse(archive)  # closes the archive when sent
        _attachment(response, "zip", file_name)
        return response


LISTING = OBJECT_OR_LIST  # one path's listing, or one per bucket without a path
LIST_PARAMS = [
    OpenApiParameter("sort", OpenApiTypes.STR, description="the field to sort by (path, size, mtime)"),
    OpenApiParameter("order", OpenApiTypes.STR, enum=["asc", "desc"]),
    OpenApiParameter("from", OpenApiTypes.INT, description="first index of the slice"),
    OpenApiParameter("to", OpenApiTypes.INT, description="end of the slice (exclusive)"),
]


def _listings(
    request: Request, path: str | None, list_one: Callable[[str, dict[str, Any]], storage_browser.Listing]
) -> Response:
    query = storage_browser.parse_query(request.query_params)
    if path:
        return Response(_read("prefix", path, lambda: list_one(path, query)))
    return Response([list_one(prefix, query) for prefix in storage_browser.prefix_types()])


class StoragePrefixTypes(APIView):
    @extend_schema(responses={200: JSON_LIST}, summary="The storage's prefix types (this cluster's buckets)")
    def get(self, request: Request) -> Response:
        return Response(storage_browser.prefix_types())


class StoragePrefixes(APIView):
    @extend_schema(parameters=LIST_PARAMS, responses={200: LISTING}, summary="The prefixes under a path")
    def get(self, request: Request, path: str | None = None) -> Response:
        return _listings(request, path, storage_browser.prefixes)


class StorageKeys(APIView):
    @extend_schema(
        parameters=LIST_PARAMS, responses={200: LISTING}, summary="The objects under a path (at most 100)"
    )
    def get(self, request: Request, path: str | None = None) -> Response:
        return _listings(request, path, storage_browser.keys)
