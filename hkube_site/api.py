"""Small informational endpoints: API banners, storage info, version."""

from __future__ import annotations

import importlib.metadata
import tomllib
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.object_store import get_storage

OBJ = {"type": "object", "additionalProperties": True}


class Versions(APIView):
    @extend_schema(responses={200: {"type": "array", "items": {"type": "string"}}}, summary="API versions")
    def get(self, request: Request) -> Response:
        return Response(["v1"])


class Banner(APIView):
    @extend_schema(responses={200: OBJ}, summary="API banner of one route group")
    def get(self, request: Request, group: str) -> Response:
        return Response({"message": f"v1 {group} api"})


class StorageInfo(APIView):
    @extend_schema(responses={200: OBJ}, summary="Where results are stored")
    def get(self, request: Request) -> Response:
        storage = get_storage()
        return Response(
            {
                "type": settings.HKUBE_STORAGE,
                "encoding": storage.encoding,
                "clusterName": settings.HKUBE_CLUSTER_NAME,
                "moduleName": storage.adapter.name,
                "storageResultsThreshold": f"{settings.HKUBE_RESULTS_THRESHOLD // 1024}Ki",
            }
        )


@lru_cache(maxsize=1)
def system_version() -> str:
    """This server's version: the checkout's `pyproject.toml` when running from source,
    otherwise the installed `hkube` distribution's."""
    pyproject = Path(settings.BASE_DIR) / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text()).get("project") or {}
        if project.get("name") == "hkube" and project.get("version"):
            return str(project["version"])
    try:
        return importlib.metadata.version("hkube")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class SystemVersion(APIView):
    @extend_schema(responses={200: OBJ}, summary="System version")
    def get(self, request: Request) -> Response:
        return Response(
            {
                "systemVersion": system_version(),
                "clusterName": settings.HKUBE_CLUSTER_NAME,
                "storage": settings.HKUBE_STORAGE,
            }
        )


def only_primary_prefix(endpoints: list[tuple[str, str, str, object]]) -> list[tuple[str, str, str, object]]:
    """drf-spectacular hook: leave out the `/hkube/api-server/` copy of every path."""
    return [e for e in endpoints if not e[0].startswith("/hkube/api-server/")]
