"""The endpoint itself: its paths, Apollo's conventions, the Object scalar, bad requests."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client

from graphql_api import catalog
from pipelines import services
from tests.graphql.conftest import Query, data, errors

FLOW_INPUT = {"files": [{"name": "a.txt", "size": 3}], "n": 1.5, "deep": {"x": [None, True, "s"]}}


@pytest.mark.parametrize("path", ["/graphql", "/graphql/", "/hkube/api-server/graphql"])
def test_graphql_is_served_under_both_prefixes_and_answers_typename(gql: Query, path: str) -> None:
    body = data(gql("query Experiments { experiments { name __typename } }", path=path))
    assert body == {"experiments": [{"name": "main", "__typename": "Experiment"}]}


def test_a_get_request_runs_a_query(client: Client, gql: Query) -> None:
    response = client.get("/graphql", {"query": "{ queueCount { managed } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"queueCount": {"managed": 0}}}


def test_the_object_scalar_carries_any_json_value(gql: Query, algorithms: list[str]) -> None:
    services.store_pipeline(
        {"name": "p1", "nodes": [{"nodeName": "a", "algorithmName": "green-alg"}], "flowInput": FLOW_INPUT}
    )
    [stored] = data(gql("query { pipelines { list } }"))["pipelines"]["list"]
    assert stored["flowInput"] == FLOW_INPUT
    scalar = data(gql('query { __type(name: "Object") { kind name } }'))["__type"]
    assert scalar == {"kind": "SCALAR", "name": "Object"}


def test_the_object_scalar_reads_literal_and_variable_values() -> None:
    from graphql import parse_value

    from graphql_api.scalars import parse_object_literal, parse_object_value

    assert parse_object_literal(parse_value('{a: [1, "x", {b: null}], c: 2.5}')) == {
        "a": [1, "x", {"b": None}],
        "c": 2.5,
    }
    assert parse_object_value({"k": [1]}) == {"k": [1]}


def test_every_root_field_the_dashboard_reads_is_in_the_schema(gql: Query) -> None:
    fields = data(gql("query { __schema { queryType { fields { name } } } }"))["__schema"]["queryType"][
        "fields"
    ]
    assert {f["name"] for f in fields} == {
        "DataSourcePreviewQuery",
        "DataSourceSnapanshots",
        "DataSourceVersions",
        "dataSource",
        "dataSources",
        "discovery",
        "job",
        "jobsAggregated",
        "aggregatedPipelineManaged",
        "managedList",
        "aggregatedTagsManaged",
        "aggregatedPipelinePrefered",
        "preferedList",
        "aggregatedTagsPrefered",
        "algorithmBuilds",
        "algorithmsByName",
        "algorithmsByVersion",
        "algorithms",
        "pipelines",
        "queueCount",
        "diskSpace",
        "errorLogs",
        "experiments",
        "healthMonitoring",
        "logsByQuery",
        "nodeStatistics",
        "pipelineStats",
    }


@pytest.mark.parametrize("kind", ["mutation", "subscription"])
def test_mutations_and_subscriptions_are_refused(gql: Query, kind: str) -> None:
    status, body = gql(f"{kind} {{ x }}")
    assert status == 400
    assert body["errors"][0]["message"] == f"The {kind} operation is not supported by the schema."


def test_a_query_that_does_not_parse_or_names_an_unknown_field_is_a_400(gql: Query) -> None:
    status, body = gql("{ experiments { name ")
    assert status == 400
    assert body["errors"][0]["message"].startswith("Syntax Error")
    status, body = gql("{ experiments { colour } }")
    assert status == 400
    assert body["errors"][0]["message"] == "Cannot query field 'colour' on type 'Experiment'."


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "invalid request body: not JSON"),
        ("[1, 2]", "the request should be a JSON object with a query"),
        ("{}", "data should have required property 'query'"),
        ('{"query": "{ experiments { name } }", "variables": [1]}', "variables should be a JSON object"),
    ],
)
def test_a_body_that_is_not_a_graphql_request_gets_hkubes_envelope(
    client: Client, db: None, body: str, message: str
) -> None:
    response = client.post("/hkube/api-server/graphql", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": {"code": 400, "message": message}}


def test_other_methods_are_refused(client: Client, db: None) -> None:
    assert client.put("/graphql", "{}", content_type="application/json").status_code == 405


def test_an_unexpected_failure_is_reported_without_its_details(
    gql: Query, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        class objects:
            @staticmethod
            def count() -> Any:
                raise RuntimeError("secret connection string")

    monkeypatch.setattr(catalog, "Pipeline", Broken)
    status, body = gql("query { pipelines { pipelinesCount } }")
    assert status == 200
    assert body["data"] == {"pipelines": {"pipelinesCount": None}}
    [error] = errors((status, body))
    assert error["message"] == "internal server error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "status": 500}
    assert "secret" not in json.dumps(body)


def test_client_mistakes_are_logged_without_a_traceback_failures_with_one(
    gql: Query, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="graphql_api"):
        gql('{ job(id: "nope") { key } }')
        gql("{ experiments { colour } }")
    ours = [r for r in caplog.records if r.name == "graphql_api"]
    assert [(r.levelno, r.exc_info is None) for r in ours] == [(logging.INFO, True)] * 2
    caplog.clear()

    class Broken:
        class objects:
            @staticmethod
            def count() -> Any:
                raise RuntimeError("boom")

    monkeypatch.setattr(catalog, "Pipeline", Broken)
    with caplog.at_level(logging.INFO, logger="graphql_api"):
        gql("query { pipelines { pipelinesCount } }")
    [record] = [r for r in caplog.records if r.name == "graphql_api"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
