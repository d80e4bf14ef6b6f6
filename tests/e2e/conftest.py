"""Fixtures for end-to-end tests: one running system per test session."""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Cluster

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def hkube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(home=tmp_path_factory.mktemp("hkube-e2e"))
    try:
        cluster.start()
    except Exception:
        for name in ("api", "engine", "control"):
            print(f"--- {name} log ---\n{cluster.logs(name)[-3000:]}")
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


def make_archive(folder: Path, files: dict[str, str], dest: Path) -> Path:
    """A .tar.gz of algorithm code, as a user would upload it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    with tarfile.open(dest, "w:gz") as tar:
        for name in files:
            tar.add(folder / name, arcname=name)
    return dest


@pytest.fixture(scope="session")
def algorithm_factory(hkube: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """Apply an algorithm from source text; returns its name once its build completed."""
    base = tmp_path_factory.mktemp("algorithms")

    def create(name: str, files: dict[str, str], env: str = "python", **descriptor: object) -> str:
        archive = make_archive(base / name, files, base / f"{name}.tar.gz")
        entry = "main.py" if env == "python" else "index.js"
        hkube.apply_algorithm({"name": name, "env": env, "entryPoint": entry, **descriptor}, archive)
        return name

    return create


@pytest.fixture(scope="session")
def numbers(hkube: Cluster) -> Cluster:
    """The getting-started algorithms (range, multiply, reduce) applied and the pipeline stored."""
    example = ROOT / "examples" / "numbers"
    subprocess.run(["bash", str(example / "package.sh")], check=True, cwd=example)
    import yaml

    for name in ("range", "multiply", "reduce"):
        descriptor = yaml.safe_load((example / f"{name}.yml").read_text())
        code = descriptor.pop("code")
        resources = descriptor.pop("resources", {})
        payload = {**descriptor, **resources, "entryPoint": code["entryPoint"]}
        hkube.apply_algorithm(payload, example / code["path"])
    pipeline = yaml.safe_load((example / "numbers.yml").read_text())
    response = hkube.post("store/pipelines", pipeline)
    assert response.status_code in (201, 409), response.text
    return hkube
