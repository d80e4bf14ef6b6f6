"""`readme/algorithms/{name}` and `readme/pipelines/{name}`: the markdown sent as the
multipart file part `README.md` (as HKube's clients send it), removed with its owner."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import MULTIPART_CONTENT, encode_multipart

from pipelines.models import Readme
from tests.api.conftest import Api

PIPELINE = {"name": "p1", "nodes": [{"nodeName": "a", "algorithmName": "green-alg", "input": []}]}
OWNERS = [("algorithms", "green-alg"), ("pipelines", "p1")]


def send(client: Client, method: str, path: str, text: str) -> tuple[int, object]:
    upload = SimpleUploadedFile("README.md", text.encode(), content_type="text/markdown")
    if method == "post":
        response = client.post(path, {"README.md": upload})
    else:  # the test client encodes multipart bodies for POST only
        body = encode_multipart("BoUnDaRy", {"README.md": upload})
        response = client.put(path, body, content_type="multipart/form-data; boundary=BoUnDaRy")
    return response.status_code, response.json()


@pytest.fixture
def owners(api: Api) -> Api:
    assert api.post("store/pipelines", PIPELINE)[0] == 201
    return api


@pytest.mark.parametrize(("kind", "name"), OWNERS)
@pytest.mark.parametrize("prefix", ["/api/v1/", "/hkube/api-server/api/v1/"])
def test_a_readme_is_added_read_replaced_and_deleted(owners: Api, kind: str, name: str, prefix: str) -> None:
    path = f"{prefix}readme/{kind}/{name}"
    assert owners.client.get(path).status_code == 404
    assert send(owners.client, "post", path, "# Hello\n") == (201, {"message": "OK"})
    assert owners.client.get(path + "/").json() == {"name": name, "readme": "# Hello\n"}
    assert send(owners.client, "put", path + "/", "# Changed") == (200, {"message": "OK"})
    assert owners.client.get(path).json()["readme"] == "# Changed"
    response = owners.client.delete(path)
    assert (response.status_code, response.json()) == (200, {"message": "OK"})
    assert owners.client.get(path).json() == {"error": {"code": 404, "message": f"readme {name} Not Found"}}


@pytest.mark.parametrize(("kind", "owner"), [("algorithms", "algorithm"), ("pipelines", "pipeline")])
def test_a_readme_needs_its_owner(api: Api, kind: str, owner: str) -> None:
    status, body = send(api.client, "post", f"/api/v1/readme/{kind}/nope", "# x")
    assert (status, body) == (404, {"error": {"code": 404, "message": f"{owner} nope Not Found"}})
    assert not Readme.objects.exists()


def test_a_readme_without_the_file_part_is_refused(owners: Api) -> None:
    response = owners.client.post("/api/v1/readme/pipelines/p1", {"other.md": "x"}, format=MULTIPART_CONTENT)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "data should have required property 'README.md'"


def test_the_readme_goes_with_its_pipeline(owners: Api) -> None:
    send(owners.client, "post", "/api/v1/readme/pipelines/p1", "# p1")
    assert owners.client.delete("/api/v1/store/pipelines/p1").status_code == 200
    assert not Readme.objects.filter(kind="pipeline", name="p1").exists()


def test_the_readme_goes_with_its_algorithm_and_is_counted(api: Api) -> None:
    send(api.client, "post", "/api/v1/readme/algorithms/yellow-alg", "# y")
    response = api.client.delete("/api/v1/store/algorithms/yellow-alg")
    assert response.status_code == 200
    assert response.json()["message"] == (
        "algorithm yellow-alg successfully deleted from store. "
        "related data deleted: 0 builds, 0 versions, 1 readme"
    )
    assert not Readme.objects.exists()


@pytest.mark.parametrize("kind", ["algorithms", "pipelines"])
@pytest.mark.parametrize("method", ["get", "delete"])
def test_the_no_name_form_is_a_400(api: Api, kind: str, method: str) -> None:
    response = getattr(api.client, method)(f"/api/v1/readme/{kind}/")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "data should have required property 'name'"
