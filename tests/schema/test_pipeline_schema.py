"""Pipeline and exec request schemas: HKube's messages (hkube-api §1.3) and defaults (§4.4)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from hkube_site.formats import FORMATS
from hkube_site.validation import ValidationError, check_schema
from pipelines import schema


def message_of(check: Callable[..., object], body: object, **kwargs: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        check(body, **kwargs)
    return caught.value.message


def pipeline(**fields: Any) -> dict[str, Any]:
    return {
        "name": "p1",
        "nodes": [{"nodeName": "green", "algorithmName": "green-alg", "input": ["args"]}],
        **fields,
    }


@pytest.mark.parametrize("name", sorted(schema.ALL_SCHEMAS))
def test_every_schema_is_draft7_and_uses_only_supported_keywords(name: str) -> None:
    check_schema(schema.ALL_SCHEMAS[name])


class TestDefaults:
    def test_name_and_nodes_only_store_exactly_like_hkube(self) -> None:
        descriptor = pipeline()
        assert schema.validate_pipeline(descriptor) is descriptor
        # hkube-api §4.4, the stored example (minus the server-set fields), key order included.
        expected = (
            '{"name":"p1","nodes":[{"nodeName":"green","algorithmName":"green-alg","input":["args"],'
            '"kind":"algorithm","minStatelessCount":0}],"kind":"batch","experimentName":"main",'
            '"options":{"ttl":3600,"batchTolerance":80,"progressVerbosityLevel":"info"},"priority":3}'
        )
        assert json.dumps(descriptor, separators=(",", ":")) == expected

    def test_node_input_defaults_to_an_empty_list(self) -> None:
        descriptor = schema.validate_pipeline(
            {"name": "p", "nodes": [{"nodeName": "a", "algorithmName": "ab"}]}
        )
        assert descriptor["nodes"][0] == {
            "nodeName": "a",
            "algorithmName": "ab",
            "input": [],
            "kind": "algorithm",
            "minStatelessCount": 0,
        }

    def test_given_values_are_kept(self) -> None:
        descriptor = schema.validate_pipeline(
            pipeline(
                kind="stream", experimentName="exp", priority=1, options={"ttl": 10, "batchTolerance": 100}
            )
        )
        assert descriptor["kind"] == "stream"
        assert descriptor["experimentName"] == "exp"
        assert descriptor["priority"] == 1
        assert descriptor["options"] == {"ttl": 10, "batchTolerance": 100, "progressVerbosityLevel": "info"}

    def test_retry_cron_and_concurrency_defaults_apply_only_when_given(self) -> None:
        bare = schema.validate_pipeline(pipeline())
        assert "retry" not in bare["nodes"][0]
        assert "triggers" not in bare
        descriptor = pipeline(
            triggers={"cron": {"pattern": "0 * * * *"}},
            options={"concurrentPipelines": {"amount": 2}},
        )
        descriptor["nodes"][0]["retry"] = {}
        schema.validate_pipeline(descriptor)
        assert descriptor["nodes"][0]["retry"] == {"policy": "OnCrash", "limit": 3}
        assert descriptor["triggers"]["cron"] == {"pattern": "0 * * * *", "enabled": False}
        assert descriptor["options"]["concurrentPipelines"] == {"amount": 2, "rejectOnFailure": True}

    def test_without_defaults_nothing_is_added(self) -> None:
        descriptor = pipeline()
        before = copy.deepcopy(descriptor)
        schema.validate_pipeline(descriptor, use_defaults=False)
        assert descriptor == before

    def test_add_pipeline_defaults_never_fails(self) -> None:
        descriptor = {"name": "p", "priority": 9}
        assert schema.add_pipeline_defaults(descriptor)["kind"] == "batch"

    def test_numeric_strings_are_coerced(self) -> None:
        descriptor = schema.validate_pipeline(pipeline(priority="3", options={"batchTolerance": "50"}))
        assert descriptor["priority"] == 3
        assert descriptor["options"]["batchTolerance"] == 50

    def test_extra_fields_are_kept(self) -> None:
        descriptor = pipeline(flowInputMetadata={"x": 1}, spanId={"id": "s"})
        descriptor["nodes"][0]["extraData"] = {"a": 1}
        descriptor["nodes"][0]["includeInResults"] = True
        schema.validate_pipeline(descriptor)
        assert descriptor["flowInputMetadata"] == {"x": 1}
        assert descriptor["nodes"][0]["extraData"] == {"a": 1}


ALLOWED = "should be equal to one of the allowed values"


def node(**fields: Any) -> dict[str, Any]:
    return {"name": "p", "nodes": [{"nodeName": "a", **fields}]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"nodes": []}, "data should have required property 'name'"),
        ({"name": {}}, "data.name should be string"),
        ({"name": ""}, "data.name should NOT be shorter than 1 characters"),
        ({"name": "no spaces"}, "pipeline name must contain only alphanumeric, dash, dot or underscore"),
        (pipeline(priority=6), "data.priority should be <= 5"),
        (pipeline(priority=0), "data.priority should be >= 1"),
        (pipeline(priority=2.5), "data.priority should be integer"),
        ({"name": "p", "nodes": [{"input": []}]}, "data.nodes[0] should have required property 'nodeName'"),
        (node(nodeName=""), "data.nodes[0].nodeName should NOT be shorter than 1 characters"),
        ({"name": "p", "nodes": {}}, "data.nodes should be array"),
        (
            node(algorithmName="Green"),
            "algorithm name must contain only lower-case alphanumeric, dash or dot",
        ),
        (node(algorithmName="a" * 33), "data.nodes[0].algorithmName should NOT be longer than 32 characters"),
        (node(input="x"), "data.nodes[0].input should be array"),
        (
            node(kind="job"),
            f"data.nodes[0].kind {ALLOWED} "
            "(algorithm,pipeline,debug,dataSource,gateway,output,hyperparamsTuner)",
        ),
        (node(batchOperation="zip"), f"data.nodes[0].batchOperation {ALLOWED} (indexed,cartesian)"),
        (
            node(retry={"policy": "Sometimes"}),
            f"data.nodes[0].retry.policy {ALLOWED} (Never,Always,OnError,OnCrash)",
        ),
        (node(retry={"limit": 0}), "data.nodes[0].retry.limit should be >= 1"),
        (node(ttl=-1), "data.nodes[0].ttl should be >= 0"),
        (node(minStatelessCount=-1), "data.nodes[0].minStatelessCount should be >= 0"),
        (node(stateType="x"), f"data.nodes[0].stateType {ALLOWED} (stateless,stateful)"),
        (node(spec="x"), "data.nodes[0].spec should be object"),
        (pipeline(kind="both"), f"data.kind {ALLOWED} (batch,stream)"),
        (pipeline(experimentName=""), "data.experimentName should NOT be shorter than 1 characters"),
        (pipeline(experimentName="e" * 33), "data.experimentName should NOT be longer than 32 characters"),
        (
            pipeline(experimentName="a b"),
            "experiment name must contain only alphanumeric, dash, dot or underscore",
        ),
        (pipeline(flowInput=[1]), "data.flowInput should be object,null"),
        (pipeline(webhooks={"x": "y"}), "data.webhooks should NOT have additional properties (x)"),
        (pipeline(webhooks={"result": "my-host/result"}), 'data.webhooks.result should match format "url"'),
        (
            pipeline(webhooks={"progress": ""}),
            "data.webhooks.progress should NOT be shorter than 1 characters",
        ),
        (pipeline(options={"batchTolerance": 101}), "data.options.batchTolerance should be <= 100"),
        (pipeline(options={"ttl": "soon"}), "data.options.ttl should be integer"),
        (pipeline(options={"activeTtl": 0}), "data.options.activeTtl should be >= 1"),
        (
            pipeline(options={"progressVerbosityLevel": "loud"}),
            f"data.options.progressVerbosityLevel {ALLOWED} (trace,debug,info,warn,error,critical)",
        ),
        (
            pipeline(options={"concurrentPipelines": {"amount": 10001}}),
            "data.options.concurrentPipelines.amount should be <= 10000",
        ),
        (
            pipeline(options={"concurrentPipelines": {"amount": 1, "x": 1}}),
            "data.options.concurrentPipelines should NOT have additional properties (x)",
        ),
        (
            pipeline(options={"concurrentPipelines": {}}),
            "data.options.concurrentPipelines should have required property 'amount'",
        ),
        (
            pipeline(options={"debugOverride": ["a", "a"]}),
            "data.options.debugOverride should NOT have duplicate items (items ## 1 and 0 are identical)",
        ),
        (pipeline(options=[]), "data.options should be object"),
        (
            pipeline(triggers={"cron": {"pattern": "hourly"}}),
            'data.triggers.cron.pattern should match format "cron"',
        ),
        (pipeline(triggers={"cron": {"enabled": "maybe"}}), "data.triggers.cron.enabled should be boolean"),
        (
            pipeline(triggers={"pipelines": [""]}),
            "data.triggers.pipelines[0] should NOT be shorter than 1 characters",
        ),
        (
            pipeline(triggers={"pipelines": ["a", "b", "a"]}),
            "data.triggers.pipelines should NOT have duplicate items (items ## 2 and 0 are identical)",
        ),
        (pipeline(triggers={"jobs": []}), "data.triggers should NOT have additional properties (jobs)"),
        (pipeline(tags=["t" * 33]), "data.tags[0] should NOT be longer than 32 characters"),
        (pipeline(tags=[""]), "data.tags[0] should NOT be shorter than 1 characters"),
        (pipeline(streaming={"flows": "A >> B"}), "data.streaming.flows should be object"),
    ],
)
def test_pipeline_messages(body: dict[str, Any], expected: str) -> None:
    assert message_of(schema.validate_pipeline, body) == expected


@pytest.mark.parametrize("pattern", ["0 * * * *", "*/10 * * * *", "20,40 * * * * 0,1,2"])
def test_cron_triggers_accept_five_and_six_fields(pattern: str) -> None:
    schema.validate_pipeline(pipeline(triggers={"cron": {"pattern": pattern, "enabled": True}}))


def test_the_bundled_simple_pipeline_is_valid() -> None:
    simple = {
        "name": "simple",
        "nodes": [
            {"nodeName": "green", "algorithmName": "green-alg", "input": ["@flowInput.files.link"]},
            {"nodeName": "yellow", "algorithmName": "yellow-alg", "input": ["@green"]},
            {"nodeName": "black", "algorithmName": "black-alg", "input": ["@yellow"]},
        ],
        "flowInput": {"files": {"link": "links-1"}},
        "options": {"batchTolerance": 100, "progressVerbosityLevel": "debug"},
        "webhooks": {"progress": "http://my-host/progress", "result": "http://my-host/result"},
        "triggers": {"cron": {"pattern": "0 * * * *", "enabled": False}, "pipelines": ["other-pipeline"]},
        "priority": 3,
        "tags": ["demo"],
    }
    schema.validate_pipeline(simple)
    # Whatever passes here also passes a standard Draft 7 validator with the same formats.
    checker = jsonschema.FormatChecker()
    for name, check in FORMATS.items():
        checker.checks(name)(check)
    jsonschema.Draft7Validator(schema.PIPELINE_SCHEMA, format_checker=checker).validate(simple)


class TestRequests:
    def test_exec_stored_requires_a_name_and_adds_no_defaults(self) -> None:
        assert message_of(schema.validate_exec_stored, {}) == "data should have required property 'name'"
        body = {"name": "simple", "flowInput": {"a": 1}, "priority": "2"}
        assert schema.validate_exec_stored(body) == {"name": "simple", "flowInput": {"a": 1}, "priority": 2}
        assert (
            message_of(schema.validate_exec_stored, {"name": "s", "priority": 9})
            == "data.priority should be <= 5"
        )

    def test_stop_accepts_every_filter_shape(self) -> None:
        assert schema.validate_stop({}) == {}
        schema.validate_stop({"jobId": "abc", "statusToStop": "active,pending", "reason": "why"})
        schema.validate_stop(
            {"pipelineName": "p", "statusToStop": ["active"], "startTime": {"from": "a", "to": "b"}}
        )
        assert (
            message_of(schema.validate_stop, {"statusToStop": {}})
            == "data.statusToStop should be string,array"
        )
        assert message_of(schema.validate_stop, {"startTime": "x"}) == "data.startTime should be object"

    def test_pause_resume_and_status_need_a_job_id(self) -> None:
        for check in (schema.validate_pause, schema.validate_resume, schema.validate_job_id):
            assert message_of(check, {}) == "data should have required property 'jobId'"
            assert check({"jobId": "qohsjh0in1a4"}) == {"jobId": "qohsjh0in1a4"}

    def test_caching(self) -> None:
        assert (
            message_of(schema.validate_caching, {"jobId": "j"})
            == "data should have required property 'nodeName'"
        )
        extra = {"jobId": "j", "nodeName": "a", "stam": 1}
        assert (
            message_of(schema.validate_caching, extra) == "data should NOT have additional properties (stam)"
        )
        schema.validate_caching({"jobId": "j", "nodeName": "a", "debug": True})

    def test_rerun(self) -> None:
        assert message_of(schema.validate_rerun, {}) == "data should have required property 'jobId'"
        assert message_of(schema.validate_rerun, {"jobId": "j", "x": 1}) == (
            "data should NOT have additional properties (x)"
        )

    def test_exec_algorithm(self) -> None:
        assert schema.validate_exec_algorithm({"name": "green-alg"}) == {"name": "green-alg", "input": []}
        assert message_of(schema.validate_exec_algorithm, {"name": "Green"}) == (
            "algorithm name must contain only lower-case alphanumeric, dash or dot"
        )
        assert message_of(schema.validate_exec_algorithm, {"name": "ab", "nodes": []}) == (
            "data should NOT have additional properties (nodes)"
        )
        assert (
            message_of(schema.validate_exec_algorithm, {"input": []})
            == "data should have required property 'name'"
        )

    def test_cron_start_and_stop(self) -> None:
        schema.validate_cron_start({"name": "simple"})
        schema.validate_cron_start({"name": "simple", "pattern": "20,40 * * * * 0,1,2"})
        assert message_of(schema.validate_cron_start, {"name": "simple", "pattern": "bad"}) == (
            'data.pattern should match format "cron"'
        )
        assert message_of(schema.validate_cron_stop, {}) == "data should have required property 'name'"

    def test_query_list_defaults_and_coercion(self) -> None:
        query = {"name": "simple", "limit": "5"}
        assert schema.validate_query_list(query) == {
            "name": "simple",
            "limit": 5,
            "experimentName": "main",
            "sort": "desc",
        }
        assert schema.validate_query_list({}) == {"experimentName": "main", "sort": "desc", "limit": 1}
        assert message_of(schema.validate_query_list, {"sort": "up"}) == (
            "data.sort should be equal to one of the allowed values (asc,desc)"
        )
        assert message_of(schema.validate_query_list, {"limit": "0"}) == "data.limit should be >= 1"
        assert message_of(schema.validate_query_list, {"limit": "many"}) == "data.limit should be integer"

    def test_search_jobs_defaults(self) -> None:
        body = schema.validate_search_jobs({"query": {"pipelineName": "simple"}})
        assert body == {"query": {"pipelineName": "simple"}, "sort": "desc", "limit": 100}
        assert message_of(schema.validate_search_jobs, {"limit": 101}) == "data.limit should be <= 100"

    def test_bare_pipeline_name(self) -> None:
        assert schema.validate_pipeline_name("simple") == "simple"
        assert message_of(schema.validate_pipeline_name, "a b") == (
            "pipeline name must contain only alphanumeric, dash, dot or underscore"
        )
