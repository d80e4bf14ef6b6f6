"""The Ajv-6 emulation itself: keyword order, messages, data paths, coercion and defaults."""

from __future__ import annotations

from typing import Any

import pytest

from hkube_site.formats import is_valid_cron
from hkube_site.validation import (
    ValidationError,
    apply_defaults,
    check_schema,
    validate,
)


def message_for(schema: dict[str, Any], data: object, *, use_defaults: bool = False) -> str:
    with pytest.raises(ValidationError) as caught:
        validate(schema, data, use_defaults=use_defaults)
    return caught.value.message


OBJ = {"type": "object"}


@pytest.mark.parametrize(
    ("schema", "data", "expected"),
    [
        ({"type": "integer", "maximum": 5}, 6, "data should be <= 5"),
        ({"type": "integer", "minimum": 1}, -1, "data should be >= 1"),
        ({"type": "number", "exclusiveMaximum": 1}, 1, "data should be < 1"),
        ({"type": "number", "exclusiveMinimum": 0.5}, 0.5, "data should be > 0.5"),
        ({"type": "number", "multipleOf": 2}, 3, "data should be multiple of 2"),
        ({"type": "string", "minLength": 2}, "a", "data should NOT be shorter than 2 characters"),
        ({"type": "string", "maxLength": 2}, "abc", "data should NOT be longer than 2 characters"),
        ({"type": "string", "pattern": "^a+$"}, "ab", 'data should match pattern "^a+$"'),
        ({"type": "string", "format": "url"}, "www.x", 'data should match format "url"'),
        ({"type": "array", "minItems": 1}, [], "data should NOT have fewer than 1 items"),
        ({"type": "array", "maxItems": 1}, [1, 2], "data should NOT have more than 1 items"),
        ({"type": "object", "required": ["jobId"]}, {"a": 1}, "data should have required property 'jobId'"),
        ({"type": "object", "minProperties": 2}, {"a": 1}, "data should NOT have fewer than 2 properties"),
        (
            {"type": "object", "additionalProperties": False},
            {"stam": 1},
            "data should NOT have additional properties (stam)",
        ),
        ({"enum": ["asc", "desc"]}, "up", "data should be equal to one of the allowed values (asc,desc)"),
        ({"const": 1}, 2, "data should be equal to constant"),
        ({"not": {"type": "string"}}, "x", "data should NOT be valid"),
        ({"type": "object"}, [], "data should be object"),
        ({"type": "array"}, {"a": 1}, "data should be array"),
        ({"type": ["object", "null"]}, 5, "data should be object,null"),
        ({"type": "integer", "nullable": True}, "x", "data should be integer,null"),
    ],
)  # fmt: skip
def test_each_keyword_reports_ajv_text(schema: dict[str, Any], data: object, expected: str) -> None:
    assert message_for(schema, data) == expected


def test_paths_use_dots_for_identifiers_brackets_for_other_keys_and_indices() -> None:
    schema = {
        "type": "object",
        "properties": {
            "nodes": {
                "type": "array",
                "items": {"type": "object", "properties": {"weird key": {"type": "string"}}},
            },
            "a$_1": {"type": "object", "properties": {"b": {"type": "integer"}}},
        },
    }
    assert (
        message_for(schema, {"nodes": [{}, {"weird key": {}}]})
        == "data.nodes[1]['weird key'] should be string"
    )
    assert message_for(schema, {"a$_1": {"b": "x"}}) == "data.a$_1.b should be integer"


def test_additional_properties_schema_paths_always_use_brackets() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "string"}}
    assert message_for(schema, {"plain": {}}) == "data['plain'] should be string"


def test_first_error_follows_ajv_keyword_groups_not_schema_key_order() -> None:
    # enum is checked after the string keywords, whatever the key order in the schema.
    schema = {"enum": ["aaaa"], "type": "string", "maxLength": 3}
    assert message_for(schema, "bbbbb") == "data should NOT be longer than 3 characters"
    # required comes before properties; additionalProperties before properties.
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["b"],
        "additionalProperties": False,
    }
    assert message_for(schema, {"a": 1}) == "data should have required property 'b'"
    assert message_for(schema, {"b": 1, "a": [], "z": 1}) == "data should NOT have additional properties (b)"


def test_properties_are_checked_in_schema_order() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "string"}}}
    assert message_for(schema, {"y": [], "x": []}) == "data.x should be string"


def test_any_of_reports_every_branch_then_its_own_error() -> None:
    schema = {"anyOf": [{"type": "string"}, {"type": "object", "required": ["id"]}]}
    assert message_for(schema, {"a": 1}) == (
        "data should be string, data should have required property 'id', "
        "data should match some schema in anyOf"
    )
    assert validate(schema, {"id": "x"}, use_defaults=False) == {"id": "x"}


def test_one_of_fails_when_two_branches_pass() -> None:
    schema = {"oneOf": [{"type": "object"}, {"required": ["a"]}]}
    assert message_for(schema, {"a": 1}) == "data should match exactly one schema in oneOf"


def test_unique_items_reports_indices_like_ajv() -> None:
    scalar = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    assert message_for(scalar, ["a", "b", "a"]) == (
        "data should NOT have duplicate items (items ## 2 and 0 are identical)"
    )
    nested = {"type": "array", "uniqueItems": True}
    assert message_for(nested, [{"a": 1}, {"b": 2}, {"a": 1}]) == (
        "data should NOT have duplicate items (items ## 0 and 2 are identical)"
    )
    assert validate(nested, [1, True, "1"], use_defaults=False) == [1, True, "1"]


class TestCoercion:
    def test_numeric_strings_become_numbers_in_their_parent(self) -> None:
        schema = {
            "type": "object",
            "properties": {
                "priority": {"type": "integer"},
                "cpu": {"type": "number"},
                "list": {"type": "array", "items": {"type": "integer"}},
            },
        }
        data = {"priority": "3", "cpu": "0.5", "list": ["1", "2"]}
        assert validate(schema, data, use_defaults=False) is data
        assert data == {"priority": 3, "cpu": 0.5, "list": [1, 2]}
        assert type(data["priority"]) is int

    def test_booleans_numbers_and_null(self) -> None:
        schema = {
            "type": "object",
            "properties": {
                "a": {"type": "boolean"},
                "b": {"type": "boolean"},
                "c": {"type": "string"},
                "d": {"type": "string"},
                "e": {"type": "integer"},
                "f": {"type": ["object", "null"]},
                "g": {"type": "string"},
            },
        }
        data = {"a": "true", "b": 0, "c": 3, "d": 2.5, "e": True, "f": "", "g": None}
        validate(schema, data, use_defaults=False)
        assert data == {"a": True, "b": False, "c": "3", "d": "2.5", "e": 1, "f": None, "g": ""}

    def test_values_that_cannot_be_coerced_are_type_errors(self) -> None:
        assert message_for({"type": "integer"}, "1.5") == "data should be integer"
        assert message_for({"type": "number"}, "abc") == "data should be number"
        assert message_for({"type": "boolean"}, "yes") == "data should be boolean"
        assert message_for({"type": "string"}, {"a": 1}) == "data should be string"

    def test_matching_types_are_left_alone(self) -> None:
        data = {"x": 3.0}
        validate({"type": "object", "properties": {"x": {"type": "integer"}}}, data, use_defaults=False)
        assert data["x"] == 3.0


class TestDefaults:
    SCHEMA: dict[str, Any] = {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "default": "batch"},
            "options": {
                "type": "object",
                "default": {},
                "properties": {"ttl": {"type": "integer", "default": 3600}},
            },
            "nodes": {
                "type": "array",
                "items": {"type": "object", "properties": {"input": {"type": "array", "default": []}}},
            },
        },
    }

    def test_defaults_fill_missing_keys_nested_objects_and_array_items(self) -> None:
        data: dict[str, Any] = {"nodes": [{}, {"input": [1]}]}
        validate(self.SCHEMA, data, use_defaults=True)
        assert data == {"nodes": [{"input": []}, {"input": [1]}], "kind": "batch", "options": {"ttl": 3600}}

    def test_defaults_are_copies(self) -> None:
        first: dict[str, Any] = {"nodes": [{}]}
        second: dict[str, Any] = {"nodes": [{}]}
        validate(self.SCHEMA, first, use_defaults=True)
        validate(self.SCHEMA, second, use_defaults=True)
        first["nodes"][0]["input"].append(1)
        assert second["nodes"][0]["input"] == []

    def test_present_null_is_not_replaced_and_nothing_is_added_without_use_defaults(self) -> None:
        data: dict[str, Any] = {"kind": None}
        validate(self.SCHEMA, data, use_defaults=True)
        assert data["kind"] == ""  # Ajv coerces null to "" for a string; the default is not used
        plain: dict[str, Any] = {}
        validate({**self.SCHEMA, "properties": {"x": {"default": 1}}}, plain, use_defaults=False)
        assert plain == {}

    def test_defaults_come_before_required(self) -> None:
        schema = {"type": "object", "properties": {"a": {"default": 1}}, "required": ["a"]}
        assert validate(schema, {}, use_defaults=True) == {"a": 1}
        assert message_for(schema, {"b": 1}) == "data should have required property 'a'"

    def test_no_defaults_inside_any_of(self) -> None:
        schema = {"anyOf": [{"type": "object", "properties": {"a": {"default": 1}}}]}
        assert validate(schema, {"b": 2}, use_defaults=True) == {"b": 2}

    def test_apply_defaults_ignores_errors(self) -> None:
        data: dict[str, Any] = {"kind": "batch", "options": {"ttl": "x"}}
        assert apply_defaults(self.SCHEMA, data) is data


def test_a_falsy_body_is_validated_as_an_empty_object() -> None:
    schema = {"type": "object", "required": ["name"]}
    for body in (None, "", 0, False):
        assert message_for(schema, body) == "data should have required property 'name'"


def test_data_var_can_be_renamed() -> None:
    with pytest.raises(ValidationError) as caught:
        validate({"type": "string"}, [], use_defaults=False, name="payload")
    assert caught.value.message == "payload should be string"
    assert caught.value.errors[0].keyword == "type"


class TestFormats:
    @pytest.mark.parametrize("url", ["http://x", "https://x/y", "ftp://host", "FTPS://HOST"])
    def test_url_accepts_http_https_ftp(self, url: str) -> None:
        validate({"type": "string", "format": "url"}, url, use_defaults=False)

    @pytest.mark.parametrize("url", ["www.x.com", "mailto:x", "http:/x", " http://x"])
    def test_url_rejects_others(self, url: str) -> None:
        assert message_for({"type": "string", "format": "url"}, url) == 'data should match format "url"'

    @pytest.mark.parametrize(
        "pattern",
        ["0 * * * *", "*/5 1-3 * jan mon-fri", "0 0 * * 7", "20,40 * * * * 0,1,2", "0-59/15 * * * * *"],
    )
    def test_cron_accepts_five_and_six_field_patterns(self, pattern: str) -> None:
        assert is_valid_cron(pattern)

    @pytest.mark.parametrize(
        "pattern",
        ["", "* * * *", "* * * * * * *", "61 * * * * *", "0 61 * * * *", "0 0 32 * *", "@daily", "x * * * *"],
    )
    def test_cron_rejects_malformed_patterns(self, pattern: str) -> None:
        assert not is_valid_cron(pattern)

    def test_custom_format_messages_replace_the_whole_text(self) -> None:
        cases = {
            "pipeline-name": "pipeline name must contain only alphanumeric, dash, dot or underscore",
            "algorithm-name": "algorithm name must contain only lower-case alphanumeric, dash or dot",
            "algorithm-image": "algorithm image must contain only lower-case alphanumeric, dash or dot",
            "experiment-name": "experiment name must contain only alphanumeric, dash, dot or underscore",
        }
        for fmt, expected in cases.items():
            schema = {"type": "object", "properties": {"x": {"type": "string", "format": fmt}}}
            assert message_for(schema, {"x": "bad name!"}) == expected

    def test_names_follow_hkube_regexes(self) -> None:
        ok = {
            "pipeline-name": ["simple", "My_Pipe.1:x-y"],
            "experiment-name": ["main", "Exp_1"],
            "algorithm-name": ["ab", "green-alg", "a.b-c9"],
            "algorithm-image": ["hkube/algorithm-example-python:v1", ""],
        }
        bad = {
            "pipeline-name": ["a b", "x/y", "name\n"],
            "experiment-name": ["a b"],
            "algorithm-name": ["a", "Ab", "-ab", "ab-", "a_b", "ab\n"],
            "algorithm-image": ["a b", "image\n"],
        }
        for fmt, values in ok.items():
            schema = {"type": "object", "properties": {"x": {"type": "string", "format": fmt}}}
            for value in values:
                validate(schema, {"x": value}, use_defaults=False)
        for fmt, values in bad.items():
            schema = {"type": "object", "properties": {"x": {"type": "string", "format": fmt}}}
            for value in values:
                with pytest.raises(ValidationError):
                    validate(schema, {"x": value}, use_defaults=False)


class TestMemoryFormats:
    def test_memory_format_messages_are_bare(self) -> None:
        schema = {"type": "object", "properties": {"mem": {"type": "string", "format": "algorithm-memory"}}}
        assert message_for(schema, {"mem": "3Mi"}) == "memory must be at least 4 Mi"
        assert message_for(schema, {"mem": "4M"}) == "memory must be at least 4 Mi"
        assert message_for(schema, {"mem": "512"}) == "memory unit must be one of Ki,M,Mi,Gi,m,K,G,T,Ti"
        assert message_for(schema, {"mem": "-5Mi"}) == "value must be >= 0"
        validate(schema, {"mem": "4Mi"}, use_defaults=False)
        reserved = {"type": "string", "format": "memory"}
        validate(reserved, "1Ki", use_defaults=False)


def test_check_schema_rejects_unknown_keywords_and_formats() -> None:
    check_schema({"type": "object", "properties": {"a": {"type": "string", "format": "url"}}})
    with pytest.raises(ValueError, match="unsupported keywords"):
        check_schema({"type": "object", "dependencies": {}})
    with pytest.raises(ValueError, match="unknown format"):
        check_schema({"type": "string", "format": "email"})
