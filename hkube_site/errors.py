"""HKube's error envelope: ``{"error": {"code": <status>, "message": ..., "details"?: ...}}``.

Services raise `ApiError` subclasses with HKube's exact wording; views never build error
bodies themselves. Anything unexpected still leaves as the envelope (500), never a
Django debug page or a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 500

    def __init__(self, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidData(ApiError):
    status = 400


class ActionNotAllowed(ApiError):
    status = 400


class NotFound(ApiError):
    """`<type> <name> Not Found` (capital N and F, as HKube writes it)."""

    status = 404

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name} Not Found")


class Missing(ApiError):
    """A 404 with its own wording (`No jobs found matching criteria (...)`)."""

    status = 404


class AlreadyExists(ApiError):
    status = 409

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name} already exists")


def envelope(status: int, message: str, details: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(status: int, message: str, details: str | None = None) -> Response:
    return Response(envelope(status, message, details), status=status)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    from hkube_site.validation import ValidationError

    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, exc.details)
    if isinstance(exc, ValidationError):
        return error_response(400, exc.message)
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        response = error_response(405, "Method Not Allowed")
        view = context.get("view")
        if view is not None:
            response["Allow"] = ", ".join(view.allowed_methods)
        return response
    if isinstance(exc, drf_exceptions.ParseError):
        return error_response(400, f"invalid request body: {exc.detail}")
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return error_response(415, str(exc.detail))
    if isinstance(exc, Http404):
        return error_response(404, "Not Found")
    if isinstance(exc, RecursionError):
        # request_guard refuses deep JSON up front; this catches whatever nests past it.
        return error_response(400, "invalid request body: nested too deeply")
    handled = drf_exception_handler(exc, context)
    if handled is not None:
        detail = handled.data.get("detail") if isinstance(handled.data, dict) else handled.data
        return error_response(handled.status_code, str(detail))
    log.exception("unhandled error in %s", context.get("view"))
    return error_response(500, f"internal error: {exc}")
