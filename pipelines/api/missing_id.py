"""The no-id forms of the endpoints that take an id in their path (`exec/pipelines/`,
`graph/raw/`, `readme/algorithms/`...): HKube declares those parameters optional and its
validator answers 400 `data should have required property '<id>'`, never a 404."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from hkube_site.errors import InvalidData


class MissingId(APIView):
    field = ""

    def _refuse(self, request: Request) -> None:
        raise InvalidData(f"data should have required property '{self.field}'")

    @extend_schema(exclude=True)
    def get(self, request: Request) -> None:
        self._refuse(request)

    @extend_schema(exclude=True)
    def post(self, request: Request) -> None:
        self._refuse(request)

    @extend_schema(exclude=True)
    def put(self, request: Request) -> None:
        self._refuse(request)

    @extend_schema(exclude=True)
    def delete(self, request: Request) -> None:
        self._refuse(request)


def missing(field: str, *methods: str) -> type[MissingId]:
    """A view answering HKube's 400 for `methods` (GET by default); other methods get 405."""
    allowed = methods or ("get",)
    attrs: dict[str, Any] = {"field": field, "http_method_names": [*allowed, "options"]}
    return type(f"Missing_{field}", (MissingId,), attrs)
