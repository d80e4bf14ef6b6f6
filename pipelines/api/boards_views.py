"""`boards/tensors` and `boards/optunas`: HKube's TensorBoard and Optuna dashboards. We run
no boards, so the answers keep HKube's shapes: the lists are empty, any id is
`404 board <id> Not Found`, and starting one is a 400 in HKube's envelope that says so."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import InvalidData, NotFound

OBJ = {"type": "object", "additionalProperties": True}
KINDS = {"tensors": "TensorBoard", "optunas": "Optuna dashboard"}


def not_supported(kind: str) -> str:
    return (
        f"boards are not supported: this server runs no {KINDS[kind]}. Read a task's output "
        "through storage (storage/keys, storage/download) instead"
    )


class _Boards(APIView):
    kind = ""

    @extend_schema(responses={200: {"type": "array", "items": OBJ}}, summary="Boards (none here)")
    def get(self, request: Request) -> Response:
        return Response([])

    @extend_schema(request={"application/json": OBJ}, responses={400: OBJ}, summary="Start a board (refused)")
    def post(self, request: Request) -> Response:
        raise InvalidData(not_supported(self.kind))


class _Board(APIView):
    @extend_schema(responses={200: OBJ}, summary="One board (none here)")
    def get(self, request: Request, board_id: str) -> Response:
        raise NotFound("board", board_id)

    @extend_schema(responses={200: OBJ}, summary="Delete a board (none here)")
    def delete(self, request: Request, board_id: str) -> Any:
        raise NotFound("board", board_id)


class TensorBoards(_Boards):
    kind = "tensors"


class OptunaBoards(_Boards):
    kind = "optunas"


class TensorBoard(_Board):
    pass


class OptunaBoard(_Board):
    pass
