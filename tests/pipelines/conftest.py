"""Fixtures for the pipelines app's in-process tests: a real database, real storage."""

from __future__ import annotations

import pytest

from algorithms.models import Algorithm


@pytest.fixture
def algorithm(db: None) -> str:
    Algorithm.objects.create(
        name="green-alg", descriptor={"name": "green-alg", "algorithmImage": "hkube/green-alg"}, version="v1"
    )
    return "green-alg"
