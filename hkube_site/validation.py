"""JSON-schema validation that answers the way HKube's api-server (Ajv 6) does.

HKube validates with Ajv 6 (`coerceTypes: true`, `nullable: true`, no `allErrors`) and reports
`errorsText(errors)` with the data variable `data`, so clients see messages such as
`data.nodes[0] should have required property 'nodeName'`. Matching those strings word for word
needs Ajv's evaluation order, which jsonschema does not promise, so this module walks the schema
itself, keyword group by keyword group, the way Ajv's generated code does:

1. `type` (coercing scalars in place when they do not match),
2. number keywords, string keywords, array keywords, object keywords (defaults are assigned at the
   start of the object group, before `required`; `additionalProperties` is checked before
   `properties`),
3. `const`, `enum`, `not`, `anyOf`, `oneOf`, `allOf`.

The first failing keyword stops the walk. `anyOf`/`oneOf` collect the errors of every branch and add
their own, as Ajv does, and defaults are not assigned inside `anyOf`/`oneOf`/`not`.

The schemas themselves are plain Draft 7 documents (`check_schema` verifies that with jsonschema and
that only keywords this walker understands are used). Plain Python, no Django, so it is tested fast.
"""

from __future__ import annotations

import copy
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from croniter import croniter

from hkube_site.units import MIN_MEMORY_MI, parse_memory_mi
from hkube_site.validation_error import AjvError, ValidationError

__all__ = [
    "FORMATS",
    "FORMAT_MESSAGES",
    "AjvError",
    "ValidationError",
    "apply_defaults",
    "check_schema",
    "is_valid_cron",
    "validate",
]


# --- formats --------------------------------------------------------------------------------------


def _check_memory(value: str) -> bool:
    parse_memory_mi(value)
    return True


def _check_algorithm_memory(value: str) -> bool:
    # HKube's format function throws instead of returning false, so the message is the bare text.
    if parse_memory_mi(value) < MIN_MEMORY_MI:
        raise ValidationError(f"memory must be at least {MIN_MEMORY_MI} Mi")
    return True


_CRON_FIELD = re.compile(r"^[\w*?/,#-]+\Z", re.ASCII)


def is_valid_cron(pattern: str) -> bool:
    """True for what the `cron` package's `CronJob` accepts: 5 fields, or 6 with seconds first.

    `"0 * * * *"` (minute hour day month weekday) and `"20,40 * * * * 0,1,2"` (second minute hour
    day month weekday) are both valid.
    """
    if not isinstance(pattern, str):
        return False
    fields = pattern.split()
    if len(fields) not in (5, 6) or not all(_CRON_FIELD.match(f) for f in fields):
        return False
    return bool(croniter.is_valid(" ".join(fields), second_at_beginning=len(fields) == 6))


def _regex_format(pattern: str, flags: int = 0) -> Callable[[str], bool]:
    compiled = re.compile(pattern, flags)
    return lambda value: compiled.search(value) is not None


# JavaScript's `$` (without the m flag) only matches at the very end, hence `\Z` below.
FORMATS: dict[str, Callable[[str], bool]] = {
    "url": _regex_format(r"^(f|ht)tps?://", re.IGNORECASE),
    "cron": is_valid_cron,
    "pipeline-name": _regex_format(r"^[:\-_.A-Za-z0-9]+\Z", re.IGNORECASE),
    "experiment-name": _regex_format(r"^[:\-_.A-Za-z0-9]+\Z", re.IGNORECASE),
    # HKube's class is `[-a-z0-9\\.]`, which also admits a backslash; kept as is.
    "algorithm-name": _regex_format(r"^[a-z0-9][-a-z0-9\\.]*[a-z0-9]\Z"),
    "algorithm-image": _regex_format(r"^\S*\Z"),
    "algorithm-mount-pvc": lambda v: bool(v) and len(v) < 64 and FORMATS["algorithm-name"](v),
    "path": _regex_format(r"^([A-Za-z0-9.\\-|/])*[^\s]\1*\Z"),
    "memory": _check_memory,
    "algorithm-memory": _check_algorithm_memory,
}

# A failed format among these replaces the whole message (HKube's `wrapErrorMessageFn`).
FORMAT_MESSAGES: dict[str, str] = {
    "pipeline-name": "pipeline name must contain only alphanumeric, dash, dot or underscore",
    "algorithm-name": "algorithm name must contain only lower-case alphanumeric, dash or dot",
    "algorithm-image": "algorithm image must contain only lower-case alphanumeric, dash or dot",
    "experiment-name": "experiment name must contain only alphanumeric, dash, dot or underscore",
}


# --- JavaScript value semantics -------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _js_str(value: object) -> str:
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


def _js_number(value: float) -> int | float:
    """JavaScript has one number type; whole values come back as `int` so JSON prints `3`, not `3.0`."""
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


_JS_NUMERIC_STRING = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


def _js_to_number(text: str) -> float | None:
    """`+text` in JavaScript, or None where that is NaN (Infinity is refused too: JSON has none)."""
    stripped = text.strip()
    if not stripped:
        return 0.0
    if _JS_NUMERIC_STRING.match(stripped):
        return float(stripped)
    if re.match(r"^0[xX][0-9a-fA-F]+\Z|^0[oO][0-7]+\Z|^0[bB][01]+\Z", stripped):
        return float(int(stripped, 0))
    return None


def _js_equal(a: object, b: object) -> bool:
    """Ajv's deep `equal`: like `==` on JSON values, but `true` is not `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_js_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_js_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _matches_type(value: object, type_name: str) -> bool:
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "number":
        return _is_number(value)
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


_NO_COERCION = object()


def _coerce(value: object, types: list[str]) -> object:
    """Ajv 6 `coerceTypes: true`: try each scalar type in schema order; `_NO_COERCION` if none fits."""
    for type_name in types:
        if type_name == "string":
            if _is_number(value) or isinstance(value, bool):
                return _js_str(value)
            if value is None:
                return ""
        elif type_name in ("number", "integer"):
            if isinstance(value, bool):
                return int(value)
            if value is None:
                return 0
            if isinstance(value, str) and value:
                number = _js_to_number(value)
                whole_enough = number is not None and (type_name == "number" or number.is_integer())
                if number is not None and math.isfinite(number) and whole_enough:
                    return _js_number(number)
        elif type_name == "boolean":
            if value == "false" or value is None or (_is_number(value) and value == 0):
                return False
            if value == "true" or (_is_number(value) and value == 1):
                return True
        elif type_name == "null" and (value == "" or value is False or (_is_number(value) and value == 0)):
            return None
    return _NO_COERCION


# --- data paths (Ajv's default, jsonPointers: false) ----------------------------------------------

_IDENTIFIER = re.compile(r"^[a-z$_][a-z$_0-9]*\Z", re.IGNORECASE)


def _escape_quotes(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\f", "\\f")
        .replace("\b", "\\b")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )


def _property_path(path: str, key: str) -> str:
    """A property named in the schema: `.name`, or `['weird key']`."""
    if _IDENTIFIER.match(key):
        return f"{path}.{key}"
    return f"{path}['{_escape_quotes(key)}']"


def _dynamic_property_path(path: str, key: str) -> str:
    """A property found only in the data (additionalProperties, patternProperties): always `['key']`."""
    return f"{path}['{key}']"


# --- the walker -----------------------------------------------------------------------------------

# fmt: off
_ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "title", "description", "default", "example", "examples",
    "readOnly", "writeOnly", "nullable",
})
_KEYWORDS = frozenset({
    "type", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "multipleOf",
    "maxLength", "minLength", "pattern", "format",
    "maxItems", "minItems", "items", "additionalItems", "uniqueItems",
    "maxProperties", "minProperties", "required", "properties", "patternProperties", "additionalProperties",
    "const", "enum", "not", "anyOf", "oneOf", "allOf",
})
# fmt: on

Schema = Mapping[str, Any] | bool
_Result = tuple[Any, list[AjvError]]


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    # JavaScript's `$` only matches at the end of input; Python's also before a final newline.
    if pattern not in _PATTERNS:
        _PATTERNS[pattern] = re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))
    return _PATTERNS[pattern]


_LIMITS: tuple[tuple[str, str, Callable[[Any, Any], bool]], ...] = (
    ("maximum", "<=", operator.le),
    ("exclusiveMaximum", "<", operator.lt),
    ("minimum", ">=", operator.ge),
    ("exclusiveMinimum", ">", operator.gt),
)


class _Walker:
    def __init__(self, use_defaults: bool) -> None:
        self.use_defaults = use_defaults

    def check(self, schema: Schema, data: Any, path: str, composite: bool) -> _Result:
        """Validate `data`; return it (coerced if needed, the caller stores it) and Ajv's errors."""
        if schema is True:
            return data, []
        if schema is False:
            return data, [AjvError("false schema", path, "boolean schema is false")]
        assert isinstance(schema, Mapping)

        types = _schema_types(schema)
        if types is not None and not any(_matches_type(data, t) for t in types):
            coerced = _coerce(data, types)
            if coerced is _NO_COERCION:
                shown = ",".join(types)
                return data, [AjvError("type", path, f"should be {shown}", {"type": shown})]
            data = coerced

        for group in (self._number, self._string, self._array, self._object, self._generic):
            data, errors = group(schema, data, path, composite)
            if errors:
                return data, errors
        return data, []

    # number: maximum, exclusiveMaximum, minimum, exclusiveMinimum, multipleOf
    def _number(self, schema: Mapping[str, Any], data: Any, path: str, composite: bool) -> _Result:
        if not _is_number(data):
            return data, []
        for keyword, op, ok in _LIMITS:
            limit = schema.get(keyword)
            if _is_number(limit) and not ok(data, limit):
                params = {"comparison": op, "limit": limit, "exclusive": op in ("<", ">")}
                return data, [AjvError(keyword, path, f"should be {op} {_js_str(limit)}", params)]
        multiple = schema.get("multipleOf")
        if _is_number(multiple):
            division = data / multiple
            if not (math.isfinite(division) and float(division).is_integer()):
                message = f"should be multiple of {_js_str(multiple)}"
                return data, [AjvError("multipleOf", path, message, {"multipleOf": multiple})]
        return data, []

    # string: maxLength, minLength, pattern, format
    def _string(self, schema: Mapping[str, Any], data: Any, path: str, composite: bool) -> _Result:
        if not isinstance(data, str):
            return data, []
        if "maxLength" in schema and len(data) > schema["maxLength"]:
            limit = schema["maxLength"]
            message = f"should NOT be longer than {limit} characters"
            return data, [AjvError("maxLength", path, message, {"limit": limit})]
        if "minLength" in schema and len(data) < schema["minLength"]:
            limit = schema["minLength"]
            message = f"should NOT be shorter than {limit} characters"
            return data, [AjvError("minLength", path, message, {"limit": limit})]
        if "pattern" in schema and not _compiled(schema["pattern"]).search(data):
            pattern = schema["pattern"]
            message = f'should match pattern "{pattern}"'
            return data, [AjvError("pattern", path, message, {"pattern": pattern})]
        if "format" in schema:
            name = schema["format"]
            checker = FORMATS.get(name)
            if checker is None:
                raise ValueError(f"unknown format {name!r} is used in schema")
            if not checker(data):
                message = f'should match format "{name}"'
                return data, [AjvError("format", path, message, {"format": name})]
        return data, []

    # array: maxItems, minItems, items (+additionalItems), uniqueItems
    def _array(self, schema: Mapping[str, Any], data: Any, path: str, composite: bool) -> _Result:
        if not isinstance(data, list):
            return data, []
        items = schema.get("items")
        if "maxItems" in schema and len(data) > schema["maxItems"]:
            limit = schema["maxItems"]
            message = f"should NOT have more than {limit} items"
            return data, [AjvError("maxItems", path, message, {"limit": limit})]
        if "minItems" in schema and len(data) < schema["minItems"]:
            limit = schema["minItems"]
            message = f"should NOT have fewer than {limit} items"
            return data, [AjvError("minItems", path, message, {"limit": limit})]
        if isinstance(items, list):
            for index, item_schema in enumerate(items[: len(data)]):
                errors = self._check_into(data, index, item_schema, f"{path}[{index}]", composite)
                if errors:
                    return data, errors
            extra = schema.get("additionalItems", True)
            if extra is False and len(data) > len(items):
                message = f"should NOT have more than {len(items)} items"
                return data, [AjvError("additionalItems", path, message, {"limit": len(items)})]
            if isinstance(extra, Mapping):
                for index in range(len(items), len(data)):
                    errors = self._check_into(data, index, extra, f"{path}[{index}]", composite)
                    if errors:
                        return data, errors
        elif items is not None:
            for index in range(len(data)):
                errors = self._check_into(data, index, items, f"{path}[{index}]", composite)
                if errors:
                    return data, errors
        if schema.get("uniqueItems") is True:
            duplicate = _find_duplicate(data, items)
            if duplicate is not None:
                i, j = duplicate
                message = f"should NOT have duplicate items (items ## {j} and {i} are identical)"
                return data, [AjvError("uniqueItems", path, message, {"i": i, "j": j})]
        return data, []

    # object: defaults, maxProperties, minProperties, required, additionalProperties, properties,
    # patternProperties
    def _object(self, schema: Mapping[str, Any], data: Any, path: str, composite: bool) -> _Result:
        if not isinstance(data, dict):
            return data, []
        properties: Mapping[str, Schema] = schema.get("properties", {})
        if self.use_defaults and not composite:
            for key, sub in properties.items():
                if key not in data and isinstance(sub, Mapping) and "default" in sub:
                    data[key] = copy.deepcopy(sub["default"])
        if "maxProperties" in schema and len(data) > schema["maxProperties"]:
            limit = schema["maxProperties"]
            message = f"should NOT have more than {limit} properties"
            return data, [AjvError("maxProperties", path, message, {"limit": limit})]
        if "minProperties" in schema and len(data) < schema["minProperties"]:
            limit = schema["minProperties"]
            message = f"should NOT have fewer than {limit} properties"
            return data, [AjvError("minProperties", path, message, {"limit": limit})]
        for key in schema.get("required", ()):
            if key not in data:
                message = f"should have required property '{key}'"
                return data, [AjvError("required", path, message, {"missingProperty": key})]

        patterns: Mapping[str, Schema] = schema.get("patternProperties", {})
        additional = schema.get("additionalProperties", True)
        if additional is not True and additional != {}:
            for key in list(data):
                if key in properties or any(_compiled(p).search(key) for p in patterns):
                    continue
                if additional is False:
                    message = "should NOT have additional properties"
                    return data, [
                        AjvError("additionalProperties", path, message, {"additionalProperty": key})
                    ]
                errors = self._check_into(data, key, additional, _dynamic_property_path(path, key), composite)
                if errors:
                    return data, errors
        for key, sub in properties.items():
            if key in data:
                errors = self._check_into(data, key, sub, _property_path(path, key), composite)
                if errors:
                    return data, errors
        for pattern, sub in patterns.items():
            for key in [k for k in data if _compiled(pattern).search(k)]:
                errors = self._check_into(data, key, sub, _dynamic_property_path(path, key), composite)
                if errors:
                    return data, errors
        return data, []

    # generic: const, enum, not, anyOf, oneOf, allOf
    def _generic(self, schema: Mapping[str, Any], data: Any, path: str, composite: bool) -> _Result:
        if "const" in schema and not _js_equal(data, schema["const"]):
            params = {"allowedValue": schema["const"]}
            return data, [AjvError("const", path, "should be equal to constant", params)]
        if "enum" in schema and not any(_js_equal(data, v) for v in schema["enum"]):
            params = {"allowedValues": list(schema["enum"])}
            return data, [AjvError("enum", path, "should be equal to one of the allowed values", params)]
        if "not" in schema:
            data, errors = self.check(schema["not"], data, path, True)
            if not errors:
                return data, [AjvError("not", path, "should NOT be valid")]
        if "anyOf" in schema:
            collected: list[AjvError] = []
            for branch in schema["anyOf"]:
                data, errors = self.check(branch, data, path, True)
                if not errors:
                    break
                collected.extend(errors)
            else:
                return data, [*collected, AjvError("anyOf", path, "should match some schema in anyOf")]
        if "oneOf" in schema:
            collected = []
            passing: list[int] = []
            for index, branch in enumerate(schema["oneOf"]):
                data, errors = self.check(branch, data, path, True)
                if errors:
                    collected.extend(errors)
                else:
                    passing.append(index)
            if len(passing) != 1:
                params = {"passingSchemas": passing or None}
                error = AjvError("oneOf", path, "should match exactly one schema in oneOf", params)
                return data, [*collected, error]
        for branch in schema.get("allOf", ()):
            data, errors = self.check(branch, data, path, composite)
            if errors:
                return data, errors
        return data, []

    def _check_into(
        self, container: Any, key: Any, schema: Schema, path: str, composite: bool
    ) -> list[AjvError]:
        # Ajv writes a coerced value back into the parent object or array.
        value, errors = self.check(schema, container[key], path, composite)
        if value is not container[key]:
            container[key] = value
        return errors


def _schema_types(schema: Mapping[str, Any]) -> list[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    types = list(declared) if isinstance(declared, list) else [declared]
    if schema.get("nullable") is True and "null" not in types:
        types.append("null")
    return types


def _find_duplicate(data: list[Any], items: object) -> tuple[int, int] | None:
    """Ajv 6's uniqueItems scan: returns (i, j) as Ajv reports them, or None."""
    item_types = items.get("type") if isinstance(items, Mapping) else None
    type_list = item_types if isinstance(item_types, list) else [item_types] if item_types else []
    if not type_list or any(t in ("object", "array") for t in type_list):
        for i in range(len(data) - 1, 0, -1):
            for j in range(i - 1, -1, -1):
                if _js_equal(data[i], data[j]):
                    return i, j
        return None
    # Scalar item types: Ajv keys an object by the item, scanning from the end.
    seen: dict[str, int] = {}
    for i in range(len(data) - 1, -1, -1):
        item = data[i]
        if not any(_matches_type(item, t) for t in type_list):
            continue
        key = item if isinstance(item, str) else _js_str(item)
        if isinstance(item_types, list) and isinstance(item, str):
            key = '"' + item
        if key in seen:
            return i, seen[key]
        seen[key] = i
    return None


def _is_js_falsy(value: object) -> bool:
    return (
        value is None
        or value is False
        or value == ""
        or (_is_number(value) and (value == 0 or value != value))
    )


def _errors_text(errors: list[AjvError], data_var: str) -> str:
    first = errors[0]
    if first.keyword == "format" and first.params.get("format") in FORMAT_MESSAGES:
        return FORMAT_MESSAGES[first.params["format"]]
    text = ", ".join(f"{data_var}{e.data_path} {e.message}" for e in errors)
    if "allowedValues" in first.params:
        shown = ",".join("" if v is None else _js_str(v) for v in first.params["allowedValues"])
        text += f" ({shown})"
    elif "additionalProperty" in first.params:
        text += f" ({first.params['additionalProperty']})"
    return text


# --- public API -----------------------------------------------------------------------------------


def validate(schema: Mapping[str, Any], data: object, *, use_defaults: bool, name: str = "data") -> Any:
    """Validate `data` against `schema` the way HKube's api-server does; return the (same) data.

    With `use_defaults`, missing properties that have a `default` are filled in place. Scalars of
    the wrong type are coerced in place where Ajv would (`"3"` -> 3, `"true"` -> True, 3 -> `"3"`).
    A falsy body (`None`, `""`, `0`, `False`) is validated as `{}`, as HKube does. The first error
    raises `ValidationError` with HKube's message, e.g. `data.priority should be <= 5`.
    """
    if _is_js_falsy(data):
        data = {}
    data, errors = _Walker(use_defaults).check(schema, data, "", False)
    if errors:
        raise ValidationError(_errors_text(errors, name), errors)
    return data


def apply_defaults(schema: Mapping[str, Any], data: object) -> Any:
    """Fill defaults in place and ignore validity (HKube's `addDefaults`); return the data."""
    try:
        return validate(schema, data, use_defaults=True)
    except ValidationError:
        return data


def check_schema(schema: Schema) -> None:
    """Raise ValueError unless `schema` is valid Draft 7 using only keywords and formats known here."""
    from jsonschema import Draft7Validator

    Draft7Validator.check_schema(schema)
    _check_keywords(schema, "#")


def _check_keywords(schema: Schema, where: str) -> None:
    if isinstance(schema, bool):
        return
    unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise ValueError(f"{where}: unsupported keywords {sorted(unknown)}")
    if "format" in schema and schema["format"] not in FORMATS:
        raise ValueError(f"{where}: unknown format {schema['format']!r}")
    types = _schema_types(schema) or []
    for type_name in types:
        _matches_type(None, type_name)
    for key in ("properties", "patternProperties"):
        for name, sub in schema.get(key, {}).items():
            _check_keywords(sub, f"{where}/{key}/{name}")
    for key in ("additionalProperties", "additionalItems", "not"):
        if isinstance(schema.get(key), Mapping):
            _check_keywords(schema[key], f"{where}/{key}")
    items = schema.get("items")
    if isinstance(items, list):
        for index, sub in enumerate(items):
            _check_keywords(sub, f"{where}/items/{index}")
    elif items is not None:
        _check_keywords(items, f"{where}/items")
    for key in ("anyOf", "oneOf", "allOf"):
        for index, sub in enumerate(schema.get(key, ())):
            _check_keywords(sub, f"{where}/{key}/{index}")
