"""Algorithm descriptor schema (hkube-api §5.1): names, memory, defaults, env and label rules."""

from __future__ import annotations

from typing import Any

import pytest

from algorithms import schema
from hkube_site.validation import ValidationError, check_schema


def message_of(body: object, **kwargs: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        schema.validate_algorithm(body, **kwargs)  # type: ignore[arg-type]
    return caught.value.message


NAME_FORMAT = "algorithm name must contain only lower-case alphanumeric, dash or dot"


@pytest.mark.parametrize("name", sorted(schema.ALL_SCHEMAS))
def test_every_schema_is_draft7_and_uses_only_supported_keywords(name: str) -> None:
    check_schema(schema.ALL_SCHEMAS[name])


class TestNames:
    @pytest.mark.parametrize("name", ["ab", "green-alg", "a.b", "a1", "a" * 32])
    def test_valid_names(self, name: str) -> None:
        schema.validate_algorithm({"name": name})

    @pytest.mark.parametrize("name", ["a", "Green-alg", "-ab", "ab-", "a_b", "a b"])
    def test_a_single_character_uppercase_or_bad_edge_fails_the_format(self, name: str) -> None:
        assert message_of({"name": name}) == NAME_FORMAT

    def test_length_limits_come_before_the_format(self) -> None:
        assert message_of({"name": "a" * 33}) == "data.name should NOT be longer than 32 characters"
        assert message_of({"name": {}}) == "data.name should be string"

    def test_name_is_required(self) -> None:
        assert message_of({"env": "python"}) == "data should have required property 'name'"
        assert message_of({}) == "data should have required property 'name'"

    def test_name_object_check(self) -> None:
        assert schema.validate_algorithm_name({"name": "green-alg"}) == {"name": "green-alg"}
        with pytest.raises(ValidationError, match="algorithm name must contain"):
            schema.validate_algorithm_name({"name": "G"})


class TestDefaults:
    def test_image_algorithm_gets_hkube_defaults(self) -> None:
        descriptor = {"name": "green-alg", "algorithmImage": "hkube/algorithm-example-python"}
        assert schema.validate_algorithm(descriptor) is descriptor
        assert descriptor == {
            "name": "green-alg",
            "algorithmImage": "hkube/algorithm-example-python",
            "cpu": 0.1,
            "mem": "256Mi",
            "minHotWorkers": 0,
            "options": {"pending": False},
            "type": "Image",
        }

    def test_git_repository_defaults_when_given(self) -> None:
        descriptor = schema.validate_algorithm(
            {"name": "ab", "gitRepository": {"url": "https://github.com/x/y"}}
        )
        assert descriptor["gitRepository"] == {
            "url": "https://github.com/x/y",
            "branchName": "master",
            "gitKind": "github",
        }

    def test_no_defaults_when_not_asked(self) -> None:
        descriptor = {"name": "ab"}
        schema.validate_algorithm(descriptor, use_defaults=False)
        assert descriptor == {"name": "ab"}

    def test_add_defaults_never_fails(self) -> None:
        descriptor = {"name": "ab", "cpu": -1}
        assert schema.add_algorithm_defaults(descriptor)["mem"] == "256Mi"

    def test_coercion(self) -> None:
        descriptor = schema.validate_algorithm(
            {"name": "ab", "cpu": "2", "minHotWorkers": "1", "maxWorkers": None}
        )
        assert descriptor["cpu"] == 2
        assert descriptor["minHotWorkers"] == 1
        assert descriptor["maxWorkers"] is None

    def test_unknown_fields_are_kept(self) -> None:
        descriptor = schema.validate_algorithm({"name": "ab", "userInfo": {"platform": "linux"}})
        assert descriptor["userInfo"] == {"platform": "linux"}


class TestMemory:
    def test_below_four_mi(self) -> None:
        assert message_of({"name": "ab", "mem": "3Mi"}) == "memory must be at least 4 Mi"
        assert message_of({"name": "ab", "mem": "1000Ki"}) == "memory must be at least 4 Mi"

    @pytest.mark.parametrize("mem", ["512", "512MB", "2Gb", 512])
    def test_bad_or_missing_unit(self, mem: object) -> None:
        assert message_of({"name": "ab", "mem": mem}) == "memory unit must be one of Ki,M,Mi,Gi,m,K,G,T,Ti"

    @pytest.mark.parametrize("mem", ["4Mi", "512Mi", "1.5Gi", "1G", "8192Ki"])
    def test_good_values(self, mem: str) -> None:
        schema.validate_algorithm({"name": "ab", "mem": mem})

    def test_reserved_memory(self) -> None:
        assert schema.reserved_memory("256Mi") == "52Mi"
        assert schema.reserved_memory("1Gi") == "205Mi"
        assert schema.reserved_memory("512Mi") == "103Mi"
        assert message_of({"name": "ab", "reservedMemory": "5"}) == (
            "memory unit must be one of Ki,M,Mi,Gi,m,K,G,T,Ti"
        )
        schema.validate_algorithm({"name": "ab", "reservedMemory": None})


ALLOWED = "should be equal to one of the allowed values"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"env": "go"}, f"data.env {ALLOWED} (nodejs,python,java)"),
        ({"stateType": "both"}, f"data.stateType {ALLOWED} (stateless,stateful)"),
        ({"type": "Zip"}, f"data.type {ALLOWED} (Image,Code,Git)"),
        (
            {"algorithmImage": "my image"},
            "algorithm image must contain only lower-case alphanumeric, dash or dot",
        ),
        ({"cpu": -1}, "data.cpu should be >= 0"),
        ({"gpu": "x"}, "data.gpu should be number"),
        ({"minHotWorkers": 1.5}, "data.minHotWorkers should be integer"),
        ({"maxWorkers": -1}, "data.maxWorkers should be >= 0"),
        ({"options": {"pending": "no"}}, "data.options.pending should be boolean"),
        ({"kaiObject": {}}, "data.kaiObject should have required property 'queue'"),
        ({"gitRepository": {}}, "data.gitRepository should have required property 'url'"),
        ({"gitRepository": {"url": "github.com/x"}}, 'data.gitRepository.url should match format "url"'),
        (
            {"gitRepository": {"url": "https://x", "gitKind": "svn"}},
            f"data.gitRepository.gitKind {ALLOWED} (github,gitlab)",
        ),
        ({"mounts": [{"pvcName": "data"}]}, "data.mounts[0] should have required property 'path'"),
        ({"algorithmEnv": []}, "data.algorithmEnv should be object"),
        ({"entryPoint": []}, "data.entryPoint should be string,null"),
    ],
)
def test_algorithm_messages(body: dict[str, Any], expected: str) -> None:
    assert message_of({"name": "ab", **body}) == expected


class TestEnvAndLabels:
    def test_value_from_kind_must_be_known(self) -> None:
        good = {"A": "x", "B": {"secretKeyRef": {"name": "s", "key": "k"}}}
        schema.validate_algorithm({"name": "ab", "algorithmEnv": good, "workerEnv": good})
        assert message_of({"name": "ab", "workerEnv": {"A": {"valueRef": {}}}}) == (
            "data should be equal to one of the allowed values "
            "(fieldRef,configMapKeyRef,resourceFieldRef,secretKeyRef)"
        )

    def test_labels_and_annotations(self) -> None:
        schema.validate_algorithm(
            {"name": "ab", "labels": {"app": "green", "hkube.io/tier": "x-1", "empty": ""}}
        )
        pattern = (
            "must beginning and ending with an alphanumeric character with dashes (-), underscores (_), "
            "dots (.), and alphanumerics betweens"
        )
        assert message_of({"name": "ab", "labels": {"app": 5}}) == "labels value must be a valid string"
        assert message_of({"name": "ab", "labels": {"app": "-x-"}}) == f"labels value {pattern}"
        assert message_of({"name": "ab", "annotations": {"App": "x1"}}) == f"annotations key name {pattern}"
        assert message_of({"name": "ab", "labels": {"": "x1"}}) == "labels key must be a valid string"
        assert message_of({"name": "ab", "labels": {"k" * 64: "x1"}}) == (
            "labels key name must be 63 characters or less"
        )
        assert message_of({"name": "ab", "labels": {"Bad_Prefix/k1": "x1"}}).startswith(
            "labels key prefix must be a lowercase RFC 1123 subdomain"
        )

    def test_file_ext(self) -> None:
        schema.validate_file_ext("zip")
        with pytest.raises(ValidationError) as caught:
            schema.validate_file_ext("rar")
        assert caught.value.message == "data.fileExt should be equal to one of the allowed values (zip,gz)"
