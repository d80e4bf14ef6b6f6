"""Graph previews of pipelines that have not run: `POST store/pipelines/graph`,
`GET store/pipelines/graph/{name}` and `POST exec/getGraphByStreamingFlow`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api

PIPELINE: dict[str, Any] = {
    "name": "p1",
    "nodes": [
        {"nodeName": "a", "algorithmName": "green-alg", "input": ["@flowInput.x"]},
        {"nodeName": "b", "algorithmName": "yellow-alg", "input": ["#@a"]},
        {"nodeName": "c", "algorithmName": "green-alg", "input": ["@a", "@b"]},
    ],
}
EXPECTED = {
    "nodes": [
        {
            "nodeName": "a",
            "algorithmName": "green-alg",
            "kind": "algorithm",
            "input": ["@flowInput.x"],
            "level": 0,
        },
        {"nodeName": "b", "algorithmName": "yellow-alg", "kind": "algorithm", "input": ["#@a"], "level": 1},
        {
            "nodeName": "c",
            "algorithmName": "green-alg",
            "kind": "algorithm",
            "input": ["@a", "@b"],
            "level": 1,
        },
    ],
    "edges": [
        {"from": "a", "to": "b", "value": {"types": ["waitBatch", "input"]}},
        {"from": "a", "to": "c", "value": {"types": ["waitNode", "input"]}},
        {"from": "b", "to": "c", "value": {"types": ["waitNode", "input"]}},
    ],
}


@pytest.mark.parametrize("prefix", ["/api/v1/", "/hkube/api-server/api/v1/"])
def test_a_descriptor_previews_as_nodes_and_edges(api: Api, prefix: str) -> None:
    api.prefix = prefix
    assert api.post("store/pipelines/graph", {"pipeline": PIPELINE, "keyFlow": "x"}) == (200, EXPECTED)
    assert api.post("store/pipelines/graph/", {"pipeline": PIPELINE})[1] == EXPECTED


def test_a_stored_pipeline_previews_by_name(api: Api) -> None:
    assert api.post("store/pipelines", PIPELINE)[0] == 201
    assert api.get("store/pipelines/graph/p1") == (200, EXPECTED)
    assert api.error("get", "store/pipelines/graph/nope") == (404, "pipeline nope Not Found")
    assert api.error("get", "store/pipelines/graph/") == (400, "data should have required property 'name'")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "data should have required property 'pipeline'"),
        ({"pipeline": {"nodes": []}}, "data should have required property 'name'"),
        ({"pipeline": {"name": "p1", "nodes": []}}, "pipeline must have at least one node"),
        (
            {"pipeline": {**PIPELINE, "nodes": [{**PIPELINE["nodes"][0], "input": ["@zz"]}]}},
            'node "a" is depend on node "zz" which is not exists',
        ),
    ],
)
def test_a_bad_descriptor_is_a_400(api: Api, body: dict[str, Any], message: str) -> None:
    status, text = api.error("post", "store/pipelines/graph", body)
    assert status == 400
    assert message in text
