"""Applying algorithms: defaults, builds started, unsafe or malformed uploads refused."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import pytest
from django.test import Client

from builds.models import Build


def tar_gz(
    members: dict[str, bytes], *, link: tuple[str, str] | None = None, absolute: bool = False
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(("/" if absolute else "") + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type = tarfile.SYMTYPE
            info.linkname = link[1]
            tar.addfile(info)
    return buffer.getvalue()


def apply(
    client: Client, payload: dict[str, object], archive: bytes | None, filename: str = "code.tar.gz"
) -> tuple[int, dict[str, object]]:
    data: dict[str, object] = {"payload": json.dumps(payload)}
    data["file"] = io.BytesIO(archive) if archive is not None else ""
    if archive is not None:
        data["file"].name = filename  # type: ignore[union-attr]
    response = client.post("/api/v1/store/algorithms/apply", data)
    return response.status_code, response.json()


CODE = {"main.py": b"def start(args):\n    return 1\n"}


@pytest.mark.django_db
def test_apply_with_code_starts_a_build_and_stores_defaults(client: Client) -> None:
    status, body = apply(client, {"name": "my-alg", "env": "python", "entryPoint": "main.py"}, tar_gz(CODE))
    assert status == 200, body
    assert body["buildId"].startswith("my-alg-")
    assert body["messagesCode"] == [1021, 1023]
    algorithm = body["algorithm"]
    assert algorithm["cpu"] == 0.1 and algorithm["mem"] == "256Mi" and algorithm["minHotWorkers"] == 0
    assert algorithm["type"] == "Code" and algorithm["options"]["pending"] is True
    assert Build.objects.get(build_id=body["buildId"]).status == "pending"


@pytest.mark.django_db
def test_apply_with_an_image_and_no_code_makes_a_version(client: Client) -> None:
    status, body = apply(client, {"name": "img-alg", "algorithmImage": "hkube/img"}, None)
    assert status == 200, body
    assert body["messagesCode"] == [1024, 1023]
    assert "buildId" not in body
    assert client.get("/api/v1/versions/algorithms/img-alg").json()[0]["semver"] == "1.0.0"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("archive", "fragment"),
    [
        (tar_gz({"../evil.py": b"x"}), ".."),
        (tar_gz({"etc/passwd": b"x"}, absolute=True), "absolute"),
        (tar_gz(CODE, link=("escape", "../../etc/passwd")), "escape"),
        (b"this is not an archive at all", "unsupported archive"),
        (tar_gz(CODE)[:40], "corrupted"),
    ],
)
def test_unsafe_or_malformed_uploads_are_refused_with_a_clear_400(
    client: Client, archive: bytes, fragment: str
) -> None:
    status, body = apply(client, {"name": "bad-upload", "env": "python"}, archive)
    assert status == 400, body
    message = body["error"]["message"]
    assert message.startswith("invalid code archive"), message
    assert fragment in message, message
    assert not Build.objects.exists()


@pytest.mark.django_db
def test_zip_with_parent_path_is_refused(client: Client) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../outside.py", "x = 1")
    status, body = apply(client, {"name": "bad-zip", "env": "python"}, buffer.getvalue(), "code.zip")
    assert status == 400 and ".." in body["error"]["message"]


@pytest.mark.django_db
def test_apply_without_name_or_env_or_code_says_what_is_missing(client: Client) -> None:
    assert apply(client, {}, None)[1]["error"]["message"] == 'algorithm should have required property "name"'
    assert (
        apply(client, {"name": "no-env"}, tar_gz(CODE))[1]["error"]["message"]
        == "data should have required property 'env'"
    )
    assert apply(client, {"name": "nothing"}, None)[1]["error"]["message"] == (
        "cannot apply algorithm due to missing image url or build data"
    )
    status, body = apply(client, {"name": "Bad_Name", "algorithmImage": "x"}, None)
    assert status == 400
    assert body["error"]["message"] == "algorithm name must contain only lower-case alphanumeric, dash or dot"


@pytest.mark.django_db
def test_unknown_algorithm_is_not_found(client: Client) -> None:
    response = client.get("/api/v1/store/algorithms/nope")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "message": "algorithm nope Not Found"}}
