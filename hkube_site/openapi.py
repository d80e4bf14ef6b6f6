"""The OpenAPI document describes HKube's error envelope on every operation.

Any operation can answer a bad body (400), an unknown name (404), a body over the limit
(413) or a body of the wrong type (415), all from `hkube_site.request_guard` and
`hkube_site.errors`; writes can also find the name already taken (409).
"""

from __future__ import annotations

from typing import Any

ERROR_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "details": {"type": "string"},
            },
        }
    },
}
ERRORS = {
    "400": "invalid input (the message names the field)",
    "404": "not found",
    "413": "request body over the size limit",
    "415": "unsupported content type",
}
WRITE_ERRORS = {"409": "already exists"}
WRITES = ("post", "put")
# An operation whose documented error responses without a body are kept as they are
# (`extend_schema(extensions={EMPTY_ERRORS: True})`): HKube answers them with no body.
EMPTY_ERRORS = "x-hkube-empty-errors"
# An operation whose documented error responses are kept whatever their body
# (`extend_schema(extensions={OWN_ERRORS: True})`): HKube answers some with a bare string.
OWN_ERRORS = "x-hkube-own-errors"


def error_responses(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: add the envelope and point error responses at it."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorEnvelope"] = ERROR_ENVELOPE
    reference = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            codes = {**ERRORS, **(WRITE_ERRORS if method in WRITES else {})}
            for code, description in codes.items():
                if code in responses and "content" not in responses[code] and operation.get(EMPTY_ERRORS):
                    continue  # documented as an empty answer on purpose (HKube's own shape)
                if code in responses and operation.get(OWN_ERRORS):
                    continue  # documented with HKube's own body (a string)
                responses[code] = {
                    "description": description,
                    "content": {"application/json": {"schema": reference}},
                }
    return result


# Response schemas the views share: HKube answers lists for listings, and a list of
# per-item results when a list was posted.
JSON_LIST: dict[str, Any] = {"type": "array", "items": {}}
OBJECT_OR_LIST: dict[str, Any] = {"oneOf": [{"type": "object", "additionalProperties": True}, JSON_LIST]}
