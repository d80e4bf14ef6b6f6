from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.test import Client

from algorithms import services as algorithm_services

Query = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def gql(client: Client, db: None, real_redis: redis.Redis) -> Query:
    """POST a GraphQL request as Apollo does: `(status, body)`."""

    def run(
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        path: str = "/hkube/api-server/graphql",
        operation: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        body = {"operationName": operation, "query": query, "variables": variables or {}}
        response = client.post(path, json.dumps(body), content_type="application/json")
        return response.status_code, response.json()

    return run


@pytest.fixture
def algorithms(db: None) -> list[str]:
    names = ["green-alg", "yellow-alg"]
    for name in names:
        algorithm_services.insert_algorithm(
            {"name": name, "algorithmImage": f"hkube/{name}", "cpu": 0.5, "mem": "256Mi"}
        )
    return names


def data(result: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    """The `data` of a request that must have succeeded."""
    status, body = result
    assert status == 200, body
    assert "errors" not in body, body["errors"]
    return body["data"]  # type: ignore[no-any-return]


def errors(result: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
    _, body = result
    assert body.get("errors"), body
    return body["errors"]  # type: ignore[no-any-return]
