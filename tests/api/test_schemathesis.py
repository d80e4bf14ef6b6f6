"""schemathesis against our own OpenAPI document: every operation, a few examples each.

Checks: no 5xx, the status code is documented, and the body conforms to the documented
schema (error responses included: the envelope). Runs in-process through the WSGI app,
with a real Redis for the API's Redis reads and the Celery broker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.renderers import JSONRenderer
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from algorithms.models import Algorithm

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Operations left out, and why.
EXCLUDED = {
    # Starts a real build (a virtualenv and pip install) for every generated archive.
    ("POST", "/api/v1/store/algorithms/apply/"): "starts builds",
    ("POST", "/api/v1/versions/algorithms/apply/"): "starts builds",
    ("POST", "/api/v1/builds/rerun/"): "starts builds",
}


def load_schema() -> Any:
    """Our own document, generated in-process (collection runs before any database exists)."""
    generator = SchemaGenerator()
    document = json.loads(JSONRenderer().render(generator.get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = WSGIHandler()
    # Valid and invalid input both: bad input must get a documented 4xx, never a 5xx.
    loaded.config.generation.update(modes=list(GenerationMode))
    for method, path in EXCLUDED:
        loaded = loaded.exclude(method=method, path=path)
    return loaded


schema = load_schema()


@pytest.fixture(autouse=True)
def fuzz_environment(db: None, redis_url: str, real_redis: Any) -> Iterator[None]:
    from hkube_site.celery import app

    saved = app.conf.broker_url, app.conf.result_backend
    app.conf.broker_url = app.conf.result_backend = redis_url  # never the machine's own Redis
    # As Django's test client does: a request's end must not close the test's database
    # connection (on Postgres that ends the test's transaction for every later request).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    Algorithm.objects.create(
        name="green-alg",
        descriptor={"name": "green-alg", "algorithmImage": "hkube/green-alg", "cpu": 0.1, "mem": "256Mi"},
        version="v1",
    )
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.result_backend = saved
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
