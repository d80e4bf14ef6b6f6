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

from hkube_site.formats import FORMAT_MESSAGES, FORMATS
from hkube_site.js_values import (
    NO_COERCION,
    coerce,
    is_js_falsy,
    is_number,
    js_equal,
    js_str,
    matches_type,
)
from hkube_site.validation_error import AjvError, ValidationError

__all__ = [
    "AjvError",
    "ValidationError",
    "apply_defaults",
    "check_schema",
    "validate",
]


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
        if types is not None and not any(matches_type(data, t) for t in types):
            coerced = coerce(data, types)
            if coerced is NO_COERCION:
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
        if not is_number(data):
            return data, []
        for keyword, op, ok in _LIMITS:
            limit = schema.get(keyword)
            if is_number(limit) and not ok(data, limit):
                params = {"comparison": op, "limit": limit, "exclusive": op in ("<", ">")}
                return data, [AjvError(keyword, path, f"should be {op} {js_str(limit)}", params)]
        multiple = schema.get("multipleOf")
        if is_number(multiple):
            division = data / multiple
            if not (math.isfinite(division) and float(division).is_integer()):
                message = f"should be multiple of {js_str(multiple)}"
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
        if "const" in schema and not js_equal(data, schema["const"]):
            params = {"allowedValue": schema["const"]}
            return data, [AjvError("const", path, "should be equal to constant", params)]
        if "enum" in schema and not any(js_equal(data, v) for v in schema["enum"]):
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
                if js_equal(data[i], data[j]):
                    return i, j
        return None
    # Scalar item types: Ajv keys an object by the item, scanning from the end.
    seen: dict[str, int] = {}
    for i in range(len(data) - 1, -1, -1):
        item = data[i]
        if not any(matches_type(item, t) for t in type_list):
            continue
        key = item if isinstance(item, str) else js_str(item)
        if isinstance(item_types, list) and isinstance(item, str):
            key = '"' + item
        if key in seen:
            return i, seen[key]
        seen[key] = i
    return None


def _errors_text(errors: list[AjvError], data_var: str) -> str:
    first = errors[0]
    if first.keyword == "format" and first.params.get("format") in FORMAT_MESSAGES:
        return FORMAT_MESSAGES[first.params["format"]]
    text = ", ".join(f"{data_var}{e.data_path} {e.message}" for e in errors)
    if "allowedValues" in first.params:
        shown = ",".join("" if v is None else js_str(v) for v in first.params["allowedValues"])
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
    if is_js_falsy(data):
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
        matches_type(None, type_name)
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
