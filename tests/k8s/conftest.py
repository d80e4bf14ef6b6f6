"""Fixtures for the Kubernetes tests: the helm binary."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from .helm import MISSING, helm_binary


@pytest.fixture(scope="session")
def helm(request: pytest.FixtureRequest) -> Path:
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("hkube-helm") if cache is not None else Path(tempfile.gettempdir()) / "hkube-helm"
    binary = helm_binary(Path(folder))
    if binary is None:
        pytest.skip(MISSING)
    return binary
