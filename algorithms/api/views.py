"""`store/algorithms` and `versions/algorithms` endpoints (builds: `builds/api/views.py`)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from algorithms import listing, resources, services
from algorithms.models import AlgorithmVersion
from hkube_site.errors import ApiError, InvalidData, NotFound
from hkube_site.openapi import JSON_LIST, OBJECT_OR_LIST
from hkube_site.validation import ValidationError

OBJ = {"type": "object", "additionalProperties": True}
APPLY_FORM = {
    "multipart/form-data": {
        "type": "object",
        "properties": {
            "payload": {"type": "string", "description": "the algorithm descriptor as a JSON string"},
            "options": {"type": "string", "description": 'JSON string {"forceUpdate", "forceBuild"}'},
            "file": {"type": "string", "format": "binary", "description": ".tar.gz or .zip of the code"},
        },
    }
}


def _json_field(request: Request, name: str, default: Any) -> Any:
    raw = request.data.get(name) if hasattr(request.data, "get") else None
    if raw in (None, ""):
        return default
    if isinstance(raw, (dict, list)):
        return raw
    try:
        return json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidData(f"{name} must be a JSON string: {exc}") from exc


@contextmanager
def saved_upload(request: Request) -> Iterator[services.Upload | None]:
    """The `file` part saved to a temporary file (HKube's CLI sends '' when there is no code)."""
    upload = request.FILES.get("file") if hasattr(request, "FILES") else None
    if not isinstance(upload, UploadedFile):
        yield None
        return
    if upload.size and upload.size > int(settings.HKUBE_MAX_UPLOAD_BYTES):
        raise InvalidData(f"the code archive is larger than {settings.HKUBE_MAX_UPLOAD_BYTES} bytes")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload"
        with open(path, "wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
        if path.stat().st_size == 0:
            raise InvalidData("the uploaded code archive is empty")
        yield services.Upload(path=path, filename=upload.name or "")


class ApplyAlgorithm(APIView):
    @extend_schema(
        request=APPLY_FORM, responses={200: OBJ}, summary="Create or update an algorithm (with code)"
    )
    def post(self, request: Request) -> Response:
        payload = _json_field(request, "payload", None)
        if payload is None and isinstance(request.data, dict) and "name" in request.data:
            payload = dict(request.data)
        options = _json_field(request, "options", {})
        with saved_upload(request) as upload:
            result = services.apply_algorithm(payload or {}, upload, options)
        return Response(result.as_api())


class StoreAlgorithms(APIView):
    @extend_schema(responses={200: JSON_LIST}, summary="Algorithms by creation (?name=&sort=asc|desc&limit=)")
    def get(self, request: Request) -> Response:
        reasons = resources.unscheduled_reasons()
        algorithms = listing.list_algorithms(request.query_params)
        return Response([_with_reason(a.as_api(), reasons) for a in algorithms])

    @extend_schema(
        request={"application/json": OBJ},
        responses={201: OBJECT_OR_LIST},
        summary="Insert an algorithm (or an array)",
    )
    def post(self, request: Request) -> Response:
        # HKube tests the query value for truthiness only: "false" turns overwrite on too.
        overwrite = request.query_params.get("overwrite") not in (None, "")
        payloads = _payload_list(request)
        if payloads is not None:
            allow = overwrite or bool(_json_field(request, "options", {}).get("allowOverwrite"))
            return Response([_insert_json_item(item, allow) for item in payloads], status=201)
        payload = _json_field(request, "payload", None)
        if payload is not None:
            allow = overwrite or bool(_json_field(request, "options", {}).get("allowOverwrite"))
            with saved_upload(request) as upload:
                if upload is not None:
                    return Response(
                        services.apply_algorithm(payload, upload, {"forceUpdate": True}).as_api(), 201
                    )
                return Response(services.insert_algorithm(payload, allow_overwrite=allow).as_api(), 201)
        data = request.data
        if isinstance(data, list):
            return Response([_insert_item(item, overwrite) for item in data], status=201)
        if not isinstance(data, dict):
            raise InvalidData("data should be object")
        return Response(
            services.insert_algorithm(dict(data), allow_overwrite=overwrite).algorithm, status=201
        )

    @extend_schema(
        request={"application/json": OBJ},
        responses={200: OBJ},
        summary="Update an algorithm: a new version, current when forced (?forceStopAndApplyVersion=true)",
    )
    def put(self, request: Request) -> Response:
        payload = _json_field(request, "payload", None)
        if payload is not None:
            with saved_upload(request) as upload:
                options = _json_field(request, "options", {})
                if upload is not None:
                    services.get_algorithm(str(payload.get("name")))
                    return Response(
                        services.apply_algorithm(payload, upload, {"forceUpdate": True, **options}).as_api()
                    )
                return Response(services.update_algorithm(payload, options).as_api())
        if not isinstance(request.data, dict):
            raise InvalidData("data should be object")
        # HKube's old way: the query flag stands for forceUpdate.
        force = request.query_params.get("forceStopAndApplyVersion") == "true"
        return Response(services.update_algorithm(dict(request.data), {"forceUpdate": force}).algorithm)


def _with_reason(algorithm: dict[str, Any], reasons: dict[str, str]) -> dict[str, Any]:
    """HKube's `unscheduledReason`: why the executor cannot give the algorithm a worker."""
    reason = reasons.get(algorithm["name"])
    return {**algorithm, "unscheduledReason": reason} if reason else algorithm


def _payload_list(request: Request) -> list[Any] | None:
    """HKube's `{"payload": [<JSON strings>]}` (or repeated multipart `payload` parts)."""
    data: Any = request.data
    if hasattr(data, "getlist"):
        parts = data.getlist("payload")
        if len(parts) > 1:
            return list(parts)
    raw = data.get("payload") if hasattr(data, "get") else None
    return list(raw) if isinstance(raw, list) else None


def _insert_json_item(item: Any, overwrite: bool) -> dict[str, Any]:
    if isinstance(item, str):
        try:
            item = json.loads(item)
        except ValueError as exc:
            return {"error": {"code": 400, "message": f"payload must be a JSON string: {exc}"}}
    return _insert_item(item, overwrite)


def _insert_item(item: Any, overwrite: bool) -> dict[str, Any]:
    try:
        if not isinstance(item, dict):
            raise InvalidData("data should be object")
        return services.insert_algorithm(item, allow_overwrite=overwrite).algorithm
    except ApiError as exc:
        return {"error": {"code": exc.status, "message": exc.message}}
    except ValidationError as exc:
        return {"error": {"code": 400, "message": exc.message}}


class StoreAlgorithm(APIView):
    @extend_schema(responses={200: OBJ}, summary="One algorithm")
    def get(self, request: Request, name: str) -> Response:
        algorithm = services.get_algorithm(name).as_api()
        return Response(_with_reason(algorithm, resources.unscheduled_reasons()))

    @extend_schema(
        responses={200: OBJ},
        summary="Delete an algorithm (force also deletes its pipelines; keepOldVersions keeps its versions)",
    )
    def delete(self, request: Request, name: str) -> Response:
        force = request.query_params.get("force") == "true"
        keep = request.query_params.get("keepOldVersions") == "true"
        return Response({"message": services.delete_algorithm(name, force=force, keep_old_versions=keep)})


class StoreAlgorithmsFilter(APIView):
    @extend_schema(
        responses={200: OBJ},
        summary="Algorithms, filtered and paged "
        "(?name=&kind=&algorithmImage=&pending=&cursor=&page=&sort=&limit=&fields=)",
    )
    def get(self, request: Request) -> Response:
        return Response(listing.filter_algorithms(request.query_params))


class AlgorithmVersions(APIView):
    @extend_schema(responses={200: OBJ}, summary="Versions of an algorithm, newest first")
    def get(self, request: Request, name: str) -> Response:
        services.get_algorithm(name)
        versions = AlgorithmVersion.objects.filter(algorithm_name=name).order_by("-created", "-id")
        return Response([v.as_api() for v in versions])


class AlgorithmVersion_(APIView):
    @extend_schema(responses={200: OBJ})
    def get(self, request: Request, name: str, version: str) -> Response:
        services.get_algorithm(name)
        found = AlgorithmVersion.objects.filter(algorithm_name=name, version=version).first()
        if found is None:
            raise NotFound("version", version)
        return Response(found.as_api())

    @extend_schema(responses={200: OBJ})
    def delete(self, request: Request, name: str, version: str) -> Response:
        return Response({"deleted": services.delete_version(name, version)})


class ApplyVersion(APIView):
    @extend_schema(
        request={"application/json": OBJ}, responses={201: OBJ}, summary="Make a version the current one"
    )
    def post(self, request: Request) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        for key in ("name", "version"):
            if not body.get(key):
                raise InvalidData(f"data should have required property '{key}'")
        version = services.apply_version(
            str(body["name"]), str(body["version"]), force=bool(body.get("force"))
        )
        return Response(version.as_api(), status=201)
