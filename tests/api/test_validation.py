"""Bad descriptors get a 400 (or 404) that names the culprit, in HKube's words."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api


def pipeline(*nodes: dict[str, object], **extra: object) -> dict[str, object]:
    return {"name": "p1", "nodes": list(nodes), **extra}


def node(name: str, *inputs: object, algorithm: str = "green-alg") -> dict[str, object]:
    return {"nodeName": name, "algorithmName": algorithm, "input": list(inputs)}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"nodes": []}, 400, "data should have required property 'name'"),
        (
            {"name": "bad name!", "nodes": []},
            400,
            "pipeline name must contain only alphanumeric, dash, dot or underscore",
        ),
        (pipeline(), 400, "pipeline must have at least one node"),
        (pipeline(node("a"), node("a")), 400, 'found duplicate node "a"'),
        (pipeline(node("flowInput")), 400, 'pipeline "p1" has invalid reserved name "flowInput"'),
        (pipeline(node("a", "@nope")), 400, 'node "a" is depend on node "nope" which is not exists'),
        (pipeline(node("a", "@b"), node("b", "@a")), 400, "cyclic nodes are not allowed on batch pipeline"),
        (pipeline(node("a", "@a")), 400, "cyclic nodes are not allowed on batch pipeline"),
        (pipeline(node("a", "@flowInput.x.y"), flowInput={"x": {}}), 400, "unable to find flowInput.x.y"),
        (pipeline(node("a", "#@flowInput.list")), 400, "unable to find flowInput.list"),
        (pipeline(node("a", algorithm="missing-alg")), 404, "algorithm missing-alg Not Found"),
        (
            pipeline(node("a", algorithm="Bad_Alg")),
            400,
            "algorithm name must contain only lower-case alphanumeric, dash or dot",
        ),
        (pipeline(node("a"), priority=9), 400, "data.priority should be <= 5"),
        (
            pipeline({"algorithmName": "green-alg"}),
            400,
            "data.nodes[0] should have required property 'nodeName'",
        ),
        (
            pipeline(node("a"), webhooks={"result": "not-a-url"}),
            400,
            'data.webhooks.result should match format "url"',
        ),
        (
            pipeline(node("a"), options={"batchTolerance": 101}),
            400,
            "data.options.batchTolerance should be <= 100",
        ),
    ],
)
def test_exec_raw_rejects_bad_descriptors_naming_the_culprit(
    api: Api, body: dict[str, object], status: int, message: str
) -> None:
    assert api.error("post", "exec/raw", body) == (status, message)


def test_store_pipeline_allows_missing_flow_input_but_exec_refuses_it(api: Api) -> None:
    stored = pipeline(node("a", "@flowInput.x"))
    status, body = api.post("store/pipelines", stored)
    assert status == 201, body
    assert body["kind"] == "batch" and body["priority"] == 3
    assert body["options"] == {"ttl": 3600, "batchTolerance": 80, "progressVerbosityLevel": "info"}
    assert body["nodes"][0]["kind"] == "algorithm"
    assert api.error("post", "exec/stored", {"name": "p1"}) == (400, "unable to find flowInput.x")


def test_storing_a_pipeline_twice_is_a_conflict(api: Api) -> None:
    assert api.post("store/pipelines", pipeline(node("a")))[0] == 201
    assert api.error("post", "store/pipelines", pipeline(node("a"))) == (409, "pipeline p1 already exists")


def test_unknown_stored_pipeline_and_job_are_not_found(api: Api) -> None:
    assert api.error("post", "exec/stored", {"name": "nope"}) == (404, "pipeline nope Not Found")
    assert api.error("get", "store/pipelines/nope") == (404, "pipeline nope Not Found")
    assert api.error("get", "exec/status/abcdef") == (404, "status abcdef Not Found")
    assert api.error("get", "exec/results/abcdef") == (404, "status abcdef Not Found")
    assert api.error("get", "exec/pipelines/abcdef") == (404, "pipeline abcdef Not Found")


def test_stopping_nothing_is_not_found(api: Api) -> None:
    assert api.error("post", "exec/stop", {"jobId": "nope"}) == (
        404,
        "No jobs found matching criteria (jobId: nope, statuses: active,pending,paused)",
    )


def test_paths_work_with_and_without_trailing_slash_and_under_the_hkube_prefix(
    api: Api, client: object
) -> None:
    for prefix in ("/api/v1/", "/hkube/api-server/api/v1/"):
        for path in ("store/pipelines", "store/pipelines/"):
            response = api.client.get(prefix + path)
            assert response.status_code == 200, (prefix, path)


def test_wrong_method_gets_the_envelope(api: Api) -> None:
    response = api.client.delete("/api/v1/exec/raw")
    assert response.status_code == 405
    assert response.json() == {"error": {"code": 405, "message": "Method Not Allowed"}}


def test_a_body_that_is_not_an_object_is_refused(api: Api) -> None:
    response = api.client.post("/api/v1/exec/raw", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    response = api.client.post("/api/v1/exec/raw", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("invalid request body")


def test_openapi_document_and_swagger_ui_are_served(api: Api) -> None:
    schema = api.client.get("/swagger-api")
    assert schema.status_code == 200
    assert "/api/v1/exec/raw/" in schema.content.decode()
    assert api.client.get("/swagger/").status_code == 200
