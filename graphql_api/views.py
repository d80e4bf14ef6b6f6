"""`POST /graphql` (and `GET ?query=`): the dashboard's GraphQL over plain HTTP.

Apollo's conventions: a query that does not parse or validate answers 400 with `errors`; a
query that ran answers 200 with `data` and, when a resolver failed, `errors` beside it. Only
queries are served: the schema has no mutations or subscriptions, and a request for one is
refused as a validation error. A body that is not a GraphQL request gets HKube's envelope.
"""

from __future__ import annotations

import json
from typing import Any

from ariadne import graphql_sync
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from graphql_api.errors import format_hkube_error, request_log
from graphql_api.schema import schema
from hkube_site.errors import envelope


def _bad_request(message: str) -> JsonResponse:
    return JsonResponse(envelope(400, message), status=400)


def _request_data(request: HttpRequest) -> dict[str, Any] | str:
    """The `{query, variables, operationName}` object, or what is wrong with the request."""
    if request.method == "GET":
        data: Any = {key: request.GET.get(key) for key in ("query", "operationName", "variables")}
        if data["variables"]:
            try:
                data["variables"] = json.loads(data["variables"])
            except ValueError:
                return "variables should be a JSON object"
    else:
        try:
            data = json.loads(request.body or b"null")
        except ValueError:
            return "invalid request body: not JSON"
    if not isinstance(data, dict):
        return "the request should be a JSON object with a query"
    if not isinstance(data.get("query"), str) or not data["query"].strip():
        return "data should have required property 'query'"
    if data.get("variables") is not None and not isinstance(data["variables"], dict):
        return "variables should be a JSON object"
    return data


@csrf_exempt
@require_http_methods(["GET", "POST"])
def graphql_view(request: HttpRequest) -> HttpResponse:
    data = _request_data(request)
    if isinstance(data, str):
        return _bad_request(data)
    ok, result = graphql_sync(
        schema(),
        data,
        context_value={"request": request},
        error_formatter=format_hkube_error,
        logger=request_log,
        require_query=True,
    )
    return JsonResponse(result, status=200 if ok else 400)
