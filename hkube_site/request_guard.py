"""Bad input answered in HKube's envelope before any view sees it.

A view must never meet a body it cannot survive: one over the size limit (413), a JSON
body that is not UTF-8 or is nested deeper than any descriptor or flowInput needs (400:
Python's parser and every recursive walk after it would raise RecursionError, a 500).
An unknown API-like route answers a JSON 404, not Django's HTML page; the HTML pages
(/jobs/, the admin) keep their own 404s.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from hkube_site.errors import envelope

API_PREFIXES = ("/api/", "/hkube/", "/swagger-api/")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith(API_PREFIXES)


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse(envelope(status, message), status=status)


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects, brackets inside strings not counted."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def body_limit(content_type: str) -> int:
    """Algorithm code archives come as multipart uploads and have their own, larger limit."""
    if content_type.startswith("multipart/"):
        return int(settings.HKUBE_MAX_UPLOAD_BYTES) + 1024 * 1024  # the payload part beside the file
    return int(settings.HKUBE_MAX_BODY_BYTES)


def check_body(request: HttpRequest) -> JsonResponse | None:
    content_type = (request.content_type or "").lower()
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return error(400, "invalid Content-Length header")
    limit = body_limit(content_type)
    if length > limit:
        return error(413, f"request body is {length} bytes, over the limit of {limit} bytes")
    is_json = content_type == "application/json" or content_type.endswith("+json")
    if not is_json or length == 0:
        return None
    body = request.body
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return error(400, f"invalid request body: not valid UTF-8 (byte {exc.start})")
    max_depth = int(settings.HKUBE_MAX_JSON_DEPTH)
    if json_depth(body) > max_depth:
        return error(400, f"invalid request body: JSON nested deeper than {max_depth} levels")
    return None


class RequestGuard:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            rejected = check_body(request)
            if rejected is not None:
                return rejected
        response = self.get_response(request)
        # Only a path no route matched: a view's own 404 (HKube's empty flowInput 404) stays.
        if (
            response.status_code == 404
            and getattr(request, "resolver_match", None) is None
            and is_api_path(request.path)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return error(404, f"route {request.method} {request.path} Not Found")
        return response
