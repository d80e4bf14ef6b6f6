"""Fixtures for end-to-end tests: one running system per test session."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.algorithms import algorithm_applier, apply_example, store_pipeline_files
from tests.e2e.harness import ROOT, Cluster, running_cluster


@pytest.fixture(scope="session")
def hkube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("hkube-e2e")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def algorithm_factory(hkube: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """Apply an algorithm from source text; returns its name once its build completed."""
    return algorithm_applier(hkube, tmp_path_factory.mktemp("algorithms"))


@pytest.fixture(scope="session")
def numbers(hkube: Cluster) -> Cluster:
    """The getting-started algorithms (range, multiply, reduce) applied and the pipeline stored."""
    example = ROOT / "examples" / "numbers"
    subprocess.run(["bash", str(example / "package.sh")], check=True, cwd=example)
    for name in ("range", "multiply", "reduce"):
        apply_example(hkube, example, name)
    store_pipeline_files(hkube, example, "numbers.yml")
    return hkube
