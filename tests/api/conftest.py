from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from algorithms.models import Algorithm


class Api:
    """The REST API through Django's test client, JSON in and out."""

    def __init__(self, client: Client, prefix: str = "/api/v1/") -> None:
        self.client = client
        self.prefix = prefix

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        response = self.client.post(self.prefix + path, json.dumps(body), content_type="application/json")
        return response.status_code, response.json()

    def put(self, path: str, body: Any) -> tuple[int, Any]:
        response = self.client.put(self.prefix + path, json.dumps(body), content_type="application/json")
        return response.status_code, response.json()

    def get(self, path: str) -> tuple[int, Any]:
        response = self.client.get(self.prefix + path)
        return response.status_code, response.json()

    def error(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        status, data = getattr(self, method)(path, body) if body is not None else getattr(self, method)(path)
        assert "error" in data, data
        return status, data["error"]["message"]


@pytest.fixture
def api(client: Client, db: None) -> Api:
    for name in ("green-alg", "yellow-alg"):
        Algorithm.objects.create(
            name=name,
            descriptor={"name": name, "algorithmImage": f"hkube/{name}", "cpu": 0.1, "mem": "256Mi"},
            version="v1",
        )
    return Api(client)
