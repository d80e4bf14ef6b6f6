"""JavaScript value semantics that Ajv's generated code relies on: string and number
conversion, equality, JSON-schema type tests and Ajv's scalar coercion (`coerceTypes: true`).

Plain Python, used by `hkube_site.validation`.
"""

from __future__ import annotations

import math
import re


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def js_str(value: object) -> str:
    """`'' + value` in JavaScript, for the scalars JSON can carry."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)


def js_number(value: float) -> int | float:
    """JavaScript has one number type; whole values come back as `int` so JSON prints `3`, not `3.0`."""
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


_JS_NUMERIC_STRING = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


def js_to_number(text: str) -> float | None:
    """`+text` in JavaScript, or None where that is NaN (Infinity is refused too: JSON has none)."""
    stripped = text.strip()
    if not stripped:
        return 0.0
    if _JS_NUMERIC_STRING.match(stripped):
        return float(stripped)
    if re.match(r"^0[xX][0-9a-fA-F]+\Z|^0[oO][0-7]+\Z|^0[bB][01]+\Z", stripped):
        return float(int(stripped, 0))
    return None


def js_equal(a: object, b: object) -> bool:
    """Ajv's deep `equal`: like `==` on JSON values, but `true` is not `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(js_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(js_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def matches_type(value: object, type_name: str) -> bool:
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "number":
        return is_number(value)
    if type_name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "null":
        return value is None
    if type_name == "object":
        return isinstance(value, dict)
    if type_name == "array":
        return isinstance(value, list)
    raise ValueError(f"unknown JSON type {type_name!r} in schema")


NO_COERCION = object()


def coerce(value: object, types: list[str]) -> object:
    """Ajv 6 `coerceTypes: true`: try each scalar type in schema order; `NO_COERCION` if none fits."""
    for type_name in types:
        if type_name == "string":
            if is_number(value) or isinstance(value, bool):
                return js_str(value)
            if value is None:
                return ""
        elif type_name in ("number", "integer"):
            if isinstance(value, bool):
                return int(value)
            if value is None:
                return 0
            if isinstance(value, str) and value:
                number = js_to_number(value)
                whole_enough = number is not None and (type_name == "number" or number.is_integer())
                if number is not None and math.isfinite(number) and whole_enough:
                    return js_number(number)
        elif type_name == "boolean":
            if value == "false" or value is None or (is_number(value) and value == 0):
                return False
            if value == "true" or (is_number(value) and value == 1):
                return True
        elif type_name == "null" and (value == "" or value is False or (is_number(value) and value == 0)):
            return None
    return NO_COERCION


def is_js_falsy(value: object) -> bool:
    return (
        value is None
        or value is False
        or value == ""
        or (is_number(value) and (value == 0 or value != value))
    )
