"""`readme/algorithms/{name}` and `readme/pipelines/{name}`.

HKube's clients send the markdown as a multipart file part named `README.md`; a JSON body
`{"readme": "..."}` (or a form field of that name) is taken too."""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import InvalidData
from pipelines import services
from pipelines.models import ReadmeKind

OBJ = {"type": "object", "additionalProperties": True}
FILE_FORM = {
    "multipart/form-data": {
        "type": "object",
        "properties": {"README.md": {"type": "string", "format": "binary"}},
    }
}
FILE_FIELD = "README.md"


def _markdown(request: Request) -> str:
    upload = request.FILES.get(FILE_FIELD)
    if isinstance(upload, UploadedFile):
        try:
            text: str = upload.read().decode("utf-8")
            return text
        except UnicodeDecodeError as exc:
            raise InvalidData(f"{FILE_FIELD} must be UTF-8 text") from exc
    given = request.data.get("readme") if hasattr(request.data, "get") else None
    if isinstance(given, str):
        return given
    raise InvalidData(f"data should have required property '{FILE_FIELD}'")


class _Readme(APIView):
    kind: str = ""

    @extend_schema(responses={200: OBJ}, summary="The README")
    def get(self, request: Request, name: str) -> Response:
        return Response({"name": name, "readme": services.get_readme(self.kind, name).readme})

    @extend_schema(request=FILE_FORM, responses={201: OBJ}, summary="Add the README (file part README.md)")
    def post(self, request: Request, name: str) -> Response:
        services.write_readme(self.kind, name, _markdown(request))
        return Response({"message": "OK"}, status=201)

    @extend_schema(request=FILE_FORM, responses={200: OBJ}, summary="Replace the README")
    def put(self, request: Request, name: str) -> Response:
        services.write_readme(self.kind, name, _markdown(request))
        return Response({"message": "OK"})

    @extend_schema(responses={200: OBJ}, summary="Delete the README")
    def delete(self, request: Request, name: str) -> Response:
        services.delete_readme(self.kind, name)
        return Response({"message": "OK"})


class AlgorithmReadme(_Readme):
    kind = ReadmeKind.ALGORITHM


class PipelineReadme(_Readme):
    kind = ReadmeKind.PIPELINE
