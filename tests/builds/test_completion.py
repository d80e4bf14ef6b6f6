"""A build and the layer above it: builds reports a completed build (`build_completed`),
algorithms turns it into a version; the uploaded archive is stored outside apply's transaction;
builds never imports algorithms."""

from __future__ import annotations

import ast
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from algorithms.models import Algorithm, AlgorithmVersion
from builds import services, tasks
from builds.models import Build
from builds.signals import build_completed
from pipelines.models import Job

BUILDS = Path(services.__file__).resolve().parent


def complete(name: str, version: str, descriptor: dict[str, Any] | None = None) -> None:
    build_completed.send(
        sender=Build,
        build_id=f"{name}-b{version}",
        algorithm_name=name,
        descriptor=descriptor or {"name": name, "env": "python", "options": {"pending": True}},
        version=version,
        code_path=f"/algorithms/{name}/{version}/code",
        env_path=f"/algorithms/{name}/{version}/env",
    )


@pytest.mark.django_db
def test_a_completed_build_becomes_the_current_version() -> None:
    complete("alg", "v1")
    created = AlgorithmVersion.objects.get(algorithm_name="alg", version="v1")
    assert created.build_id == "alg-bv1"
    assert created.code_path == "/algorithms/alg/v1/code" and created.env_path == "/algorithms/alg/v1/env"
    algorithm = Algorithm.objects.get(name="alg")
    assert algorithm.version == "v1"
    assert algorithm.descriptor["options"]["pending"] is False


@pytest.mark.django_db
def test_a_build_completed_while_jobs_run_the_algorithm_waits_with_error_901() -> None:
    complete("alg", "v1")
    Job.objects.create(
        job_id="job-1",
        pipeline_name="p",
        status="active",
        pipeline={"nodes": [{"nodeName": "a", "algorithmName": "alg"}]},
        user_pipeline={},
    )
    complete("alg", "v2")
    algorithm = Algorithm.objects.get(name="alg")
    assert algorithm.version == "v1"
    assert algorithm.descriptor["errors"] == [901]
    assert AlgorithmVersion.objects.filter(algorithm_name="alg", version="v2").exists()


def code_archive() -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"def start(args):\n    return 1\n"
        info = tarfile.TarInfo("main.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    buffer.name = "code.tar.gz"
    return buffer


@pytest.mark.django_db(transaction=True)
def test_the_uploaded_archive_is_stored_before_applys_transaction_opens(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_transaction: list[bool] = []
    store = services.store_package

    def spy(name: str, archive: Path) -> services.Package:
        in_transaction.append(connection.in_atomic_block)
        return store(name, archive)

    monkeypatch.setattr(services, "store_package", spy)
    # This transaction commits for real: the build is queued then, not sent to a broker here.
    queued: list[str] = []
    monkeypatch.setattr(tasks.run_build, "delay", queued.append)
    payload = json.dumps({"name": "my-alg", "env": "python"})
    response = client.post("/api/v1/store/algorithms/apply", {"payload": payload, "file": code_archive()})
    assert response.status_code == 200, response.json()
    assert in_transaction == [False]
    assert queued == [response.json()["buildId"]]
    assert Build.objects.get(build_id=response.json()["buildId"]).file_path.endswith(
        response.json()["buildId"]
    )


@pytest.mark.django_db
def test_a_bad_archive_is_refused_before_anything_is_stored(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored: list[str] = []
    monkeypatch.setattr(services, "store_package", lambda name, archive: stored.append(name))
    bad = io.BytesIO(b"not an archive at all")
    bad.name = "code.tar.gz"
    payload = json.dumps({"name": "my-alg", "env": "python"})
    response = client.post("/api/v1/store/algorithms/apply", {"payload": payload, "file": bad})
    assert response.status_code == 400
    assert stored == []
    assert not Build.objects.exists()


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_builds_never_imports_algorithms() -> None:
    offenders = {
        str(path.relative_to(BUILDS.parent)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] == "algorithms"
        )
        for path in BUILDS.rglob("*.py")
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_the_language_registry_is_plain_python() -> None:
    for path in [*(BUILDS / "languages").glob("*.py"), BUILDS / "process.py"]:
        django = sorted(m for m in imported_modules(path) if m.split(".")[0] == "django")
        assert django == [], path
