"""`sync/{name}`: dev mode's code sync (HKube's `hkubectl sync` talks to its sync-server).
POST a `file` part, an archive of the developer's folder: it becomes the algorithm's current
synced code, which its workers run at their next task while `options.devMode` is on. GET
says what is synced now."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from algorithms import dev_sources
from algorithms.api.views import saved_upload
from algorithms.services import get_algorithm
from hkube_site.errors import InvalidData, NotFound

OBJ = {"type": "object", "additionalProperties": True}
SYNC_FORM = {
    "multipart/form-data": {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary"}},
        "required": ["file"],
    }
}


def _answer(synced: dev_sources.Synced, name: str) -> Response:
    options = get_algorithm(name).descriptor.get("options") or {}
    return Response({**synced.as_api(), "devMode": bool(options.get("devMode"))})


class DevSources(APIView):
    @extend_schema(responses={200: OBJ}, summary="The algorithm's synced code (dev mode)")
    def get(self, request: Request, name: str) -> Response:
        get_algorithm(name)
        synced = dev_sources.describe(name)
        if synced is None:
            raise NotFound("synced code of algorithm", name)
        return _answer(synced, name)

    @extend_schema(request=SYNC_FORM, responses={200: OBJ}, summary="Sync the algorithm's code (dev mode)")
    def post(self, request: Request, name: str) -> Response:
        with saved_upload(request) as upload:
            if upload is None:
                raise InvalidData("a file part holding an archive of the code folder is required")
            synced = dev_sources.store(name, upload.path)
        return _answer(synced, name)
