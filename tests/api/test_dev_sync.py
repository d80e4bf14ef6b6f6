"""`sync/{name}`: dev mode's code upload. Each upload is a new revision made current at once;
the one before stays for processes started on it, older ones go; bad input is HKube's 400."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.roles import Role, required_role
from algorithms import dev_sources
from algorithms.models import Algorithm
from pipelines.models import Job


def archive(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sync(client: Client, name: str, content: bytes) -> Any:
    return client.post(f"/api/v1/sync/{name}", {"file": SimpleUploadedFile("src.tar.gz", content)})


@pytest.fixture
def dev_alg(db: None, settings: Any, tmp_path: Path) -> str:
    settings.HKUBE_DEV_SOURCES_DIR = tmp_path / "dev-sources"
    Algorithm.objects.create(
        name="dev-alg", descriptor={"name": "dev-alg", "env": "python", "options": {"devMode": True}}
    )
    return "dev-alg"


def test_each_upload_becomes_the_current_revision(client: Client, dev_alg: str) -> None:
    assert client.get("/api/v1/sync/dev-alg").status_code == 404
    revisions = []
    for n in range(3):
        response = sync(client, dev_alg, archive({"main.py": f"# {n}\n", "pkg/util.py": ""}))
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["files"], body["devMode"]) == (2, True)
        revisions.append(body["revision"])
        folder = dev_sources.folder(dev_alg)
        assert folder is not None and (folder / "main.py").read_text() == f"# {n}\n"
    assert dev_sources.revision(dev_alg) == revisions[-1]
    assert client.get("/hkube/api-server/api/v1/sync/dev-alg").json()["revision"] == revisions[-1]
    kept = {p.name for p in (dev_sources.folder(dev_alg) or Path()).parent.iterdir() if p.is_dir()}
    assert kept == set(revisions[1:])  # the previous one stays for processes started on it


def test_a_lone_top_folder_is_kept_as_it_is(client: Client, dev_alg: str) -> None:
    assert sync(client, dev_alg, archive({"pkg/main.py": "x"})).status_code == 200
    folder = dev_sources.folder(dev_alg)
    assert folder is not None and (folder / "pkg" / "main.py").is_file()


def test_bad_uploads_are_refused_in_the_envelope(client: Client, dev_alg: str) -> None:
    missing = sync(client, "no-alg", archive({"main.py": ""}))
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "algorithm no-alg Not Found"
    broken = sync(client, dev_alg, b"not an archive at all")
    assert broken.status_code == 400 and "invalid code archive" in broken.json()["error"]["message"]
    escaping = sync(client, dev_alg, archive({"../evil.py": ""}))
    assert escaping.status_code == 400
    no_file = client.post("/api/v1/sync/dev-alg", {})
    assert no_file.status_code == 400 and "file part" in no_file.json()["error"]["message"]
    assert dev_sources.revision(dev_alg) is None


def test_synced_code_goes_with_its_algorithm(client: Client, dev_alg: str) -> None:
    assert sync(client, dev_alg, archive({"main.py": ""})).status_code == 200
    assert client.delete("/api/v1/store/algorithms/dev-alg").status_code == 200
    assert dev_sources.revision(dev_alg) is None and dev_sources.folder(dev_alg) is None


def test_syncing_code_needs_an_admin() -> None:
    assert required_role("POST", "/api/v1/sync/dev-alg") == Role.ADMIN
    assert required_role("GET", "/api/v1/sync/dev-alg") == Role.VIEWER


def test_a_job_of_a_dev_mode_algorithm_has_the_dev_mode_type(client: Client, dev_alg: str) -> None:
    Algorithm.objects.create(name="plain-alg", descriptor={"name": "plain-alg", "algorithmImage": "x"})
    for algorithm, types in (("dev-alg", ["raw", "dev-mode"]), ("plain-alg", ["raw"])):
        pipeline = {"name": "p", "nodes": [{"nodeName": "a", "algorithmName": algorithm, "input": []}]}
        response = client.post("/api/v1/exec/raw", pipeline, content_type="application/json")
        assert response.status_code == 200, response.content
        job = Job.objects.get(job_id=response.json()["jobId"])
        assert job.types == types and job.pipeline["types"] == types
