"""GraphQL errors in the shape Apollo answers them, with HKube's status and message.

A resolver raises the same `ApiError` the REST API raises (`InvalidData`, `NotFound`, a
validation error); it leaves as `{message, path, extensions: {code, status}}`. Anything else
is answered with a generic message (ariadne logs it with its traceback): no traceback
reaches the client.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from ariadne import format_error, unwrap_graphql_error
from graphql import GraphQLError

from hkube_site.errors import ApiError
from hkube_site.validation import ValidationError

CODES = {400: "BAD_USER_INPUT", 404: "NOT_FOUND", 409: "CONFLICT"}


def format_hkube_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    original = unwrap_graphql_error(error)
    formatted: dict[str, Any] = format_error(error, debug)
    if isinstance(original, ApiError):
        status = original.status
    elif isinstance(original, ValidationError):
        status = 400
    elif original is None or isinstance(original, GraphQLError):
        return formatted  # a syntax or validation error of the query itself: graphql-core's words
    else:
        formatted["message"] = "internal server error"
        status = 500
    formatted["message"] = getattr(original, "message", formatted["message"])
    extensions = formatted.setdefault("extensions", {})
    extensions["code"] = CODES.get(status, "INTERNAL_SERVER_ERROR")
    extensions["status"] = status
    return formatted


def _is_clients_mistake(error: BaseException) -> bool:
    original = unwrap_graphql_error(error) if isinstance(error, GraphQLError) else error
    return original is None or isinstance(original, ApiError | ValidationError | GraphQLError)


class RequestErrorLog(logging.LoggerAdapter[logging.Logger]):
    """The logger ariadne reports each error to (`logger.error(error, exc_info=error)`)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, BaseException) and _is_clients_mistake(error):
            self.logger.info("GraphQL request refused: %s", str(msg).splitlines()[0])
            return
        self.logger.error(msg, *args, **kwargs)


request_log = RequestErrorLog(logging.getLogger("graphql_api"))
