"""Bad input answers a clear 4xx in HKube's envelope, never a 500 or an HTML page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from hkube_site.request_guard import json_depth
from tests.api.conftest import Api

PIPELINE = {"name": "p1", "nodes": [{"nodeName": "a", "algorithmName": "green-alg", "input": []}]}


def error_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == response.status_code
    return dict(body["error"])


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_depth_ignores_brackets_inside_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{"}], "c": "\\"]["}') == 3
    assert json_depth(b"[]") == 1
    assert json_depth(b'"plain"') == 0


def test_a_body_nested_thousands_of_levels_deep_is_a_400(api: Api, client: Client) -> None:
    body = '{"name": "p1", "nodes": [], "flowInput": {"x": ' + nested(5000) + "}}"
    response = client.post("/api/v1/exec/raw", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than 100 levels" in error_of(response)["message"]


def test_a_flow_input_nested_within_the_limit_is_accepted(api: Api, client: Client) -> None:
    body = json.dumps({**PIPELINE, "flowInput": {"x": json.loads(nested(90))}})
    response = client.post("/api/v1/exec/raw", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert "jobId" in response.json()


def test_invalid_utf8_is_a_400(api: Api, client: Client) -> None:
    response = client.post("/api/v1/exec/raw", b'{"name": "p\xff\xfe1"}', content_type="application/json")
    assert response.status_code == 400
    assert "not valid UTF-8" in error_of(response)["message"]


def test_malformed_json_is_a_400(api: Api, client: Client) -> None:
    response = client.post("/api/v1/exec/raw", b'{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("invalid request body")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/octet-stream"])
def test_a_wrong_content_type_is_a_415_naming_it(api: Api, client: Client, content_type: str) -> None:
    response = client.post("/api/v1/exec/raw", json.dumps(PIPELINE), content_type=content_type)
    assert response.status_code == 415
    assert content_type in error_of(response)["message"]


def test_a_body_over_the_limit_is_a_413(api: Api, client: Client, settings: Any) -> None:
    settings.HKUBE_MAX_BODY_BYTES = 10_000
    huge_array = json.dumps({**PIPELINE, "flowInput": {"x": list(range(5000))}})
    response = client.post("/api/v1/exec/raw", huge_array, content_type="application/json")
    assert response.status_code == 413
    assert "over the limit of 10000 bytes" in error_of(response)["message"]
    small = client.post("/api/v1/exec/raw", json.dumps(PIPELINE), content_type="application/json")
    assert small.status_code == 200, small.content


def test_code_uploads_have_their_own_larger_limit(client: Client, db: None, settings: Any) -> None:
    settings.HKUBE_MAX_BODY_BYTES = 1_000
    settings.HKUBE_MAX_UPLOAD_BYTES = 100_000
    payload = json.dumps({"name": "my-alg", "algorithmImage": "hkube/my-alg"})
    # Over the JSON limit, under the upload limit: the request reaches the view.
    response = client.post("/api/v1/store/algorithms/apply", {"payload": payload, "pad": "x" * 5_000})
    assert response.status_code != 413, response.content
    too_big = client.post("/api/v1/store/algorithms/apply", {"payload": payload, "pad": "x" * 2_000_000})
    assert too_big.status_code == 413
    error_of(too_big)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/no/such/route",
        "/hkube/api-server/api/v1/no/such/route",
        "/api/v2/exec/raw",
        "/hkube/nothing",
        "/api/v1/exec/status/x/extra/parts",
    ],
)
def test_unknown_api_routes_answer_a_json_404(client: Client, db: None, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert path in error_of(response)["message"]
    assert client.post(path, "{}", content_type="application/json").status_code == 404


def test_html_pages_keep_their_own_404(client: Client, db: None) -> None:
    response = client.get("/jobs/no-such-page/at-all")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")
    assert client.get("/admin/login/").status_code == 200
