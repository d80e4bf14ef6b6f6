"""`builds/webhook/github|gitlab`: a push rebuilds every algorithm naming the repository and
branch; who may call them: an admin's token, or a valid signature when a secret is set."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import create_token
from algorithms.models import Algorithm
from builds.models import Build

REPO = "https://github.com/acme/algos"
COMMIT = "9f2c1e0d4b"


def store(name: str, url: str = REPO, branch: str | None = None) -> None:
    repo: dict[str, Any] = {"url": url, "gitKind": "github"}
    if branch:
        repo["branchName"] = branch
    Algorithm.objects.create(
        name=name,
        descriptor={
            "name": name,
            "env": "python",
            "type": "Git",
            "algorithmImage": "old",
            "gitRepository": repo,
        },
        version="v1",
    )


def github_push(url: str = REPO, ref: str = "refs/heads/master") -> dict[str, Any]:
    return {
        "ref": ref,
        "after": COMMIT,
        "repository": {"html_url": url, "clone_url": url + ".git"},
        "head_commit": {"id": COMMIT, "timestamp": "2026-12-06T10:00:00Z", "message": "fix"},
    }


def gitlab_push(url: str = "https://gitlab.com/acme/algos", ref: str = "refs/heads/master") -> dict[str, Any]:
    return {
        "object_kind": "push",
        "ref": ref,
        "checkout_sha": COMMIT,
        "project": {"web_url": url, "git_http_url": url + ".git"},
        "commits": [{"id": COMMIT, "message": "fix", "timestamp": "2026-12-06T10:00:00+00:00"}],
    }


def post_github_form(client: Client, prefix: str, push: dict[str, Any], **headers: str) -> Any:
    # GitHub's default content type: a form whose `payload` is the push JSON.
    return client.post(prefix + "builds/webhook/github", {"payload": json.dumps(push)}, **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", ["/api/v1/", "/hkube/api-server/api/v1/"])
def test_a_github_push_builds_each_matching_algorithm_at_the_pushed_commit(client: Client, prefix: str):
    store("a1")
    store("a2", url=REPO + ".git/")  # the same repository, written differently
    store("other-branch", branch="dev")
    store("other-repo", url="https://github.com/acme/else")
    response = post_github_form(client, prefix, github_push())
    assert response.status_code == 200, response.content
    started = response.json()["builds"]
    assert [b["algorithmName"] for b in started] == ["a1", "a2"]
    for item in started:
        build = Build.objects.get(build_id=item["buildId"])
        assert build.status == "pending" and build.file_ext == "git"
        repo = build.algorithm["gitRepository"]
        assert repo["commit"] == {"id": COMMIT, "timestamp": "2026-12-06T10:00:00Z", "message": "fix"}
        assert "algorithmImage" not in build.algorithm and build.algorithm["type"] == "Git"
    assert not Build.objects.filter(algorithm_name__in=["other-branch", "other-repo"]).exists()


@pytest.mark.django_db
def test_a_github_push_as_json_and_a_gitlab_push(client: Client):
    store("gh", branch="dev")
    store("gl", url="https://gitlab.com/acme/algos")
    response = client.post(
        "/api/v1/builds/webhook/github", github_push(ref="refs/heads/dev"), content_type="application/json"
    )
    assert response.status_code == 200 and [b["algorithmName"] for b in response.json()["builds"]] == ["gh"]
    response = client.post("/api/v1/builds/webhook/gitlab", gitlab_push(), content_type="application/json")
    assert response.status_code == 200 and [b["algorithmName"] for b in response.json()["builds"]] == ["gl"]
    build = Build.objects.get(algorithm_name="gl")
    assert build.algorithm["gitRepository"]["gitKind"] == "gitlab"
    assert build.algorithm["gitRepository"]["commit"]["id"] == COMMIT


@pytest.mark.django_db
def test_a_push_of_an_unknown_repository_or_a_bad_body(client: Client):
    store("a1")
    response = post_github_form(client, "/api/v1/", github_push(url="https://github.com/acme/nothing"))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == (
        "no algorithms found for repository https://github.com/acme/nothing and branch master"
    )
    response = client.post("/api/v1/builds/webhook/github", {"payload": "{not json"})
    assert response.status_code == 400 and "payload" in response.json()["error"]["message"]
    response = client.post(
        "/api/v1/builds/webhook/gitlab", {"ref": "refs/heads/master"}, content_type="application/json"
    )
    assert response.status_code == 400 and "project" in response.json()["error"]["message"]
    response = client.post("/api/v1/builds/webhook/github", [1], content_type="application/json")
    assert response.status_code == 400
    assert not Build.objects.exists()


def github_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.django_db
def test_in_token_mode_the_webhooks_need_an_admin_or_a_valid_signature(client: Client, settings: Any):
    settings.HKUBE_AUTH = "token"
    tokens = {role: create_token(f"{role}-t", role)[1] for role in ("viewer", "admin")}
    store("a1")
    store("gl", url="https://gitlab.com/acme/algos")
    body = json.dumps(github_push()).encode()

    def github(**headers: str) -> int:
        response = client.post(
            "/api/v1/builds/webhook/github", body, content_type="application/json", **headers
        )
        return int(response.status_code)

    assert github() == 401
    assert github(HTTP_AUTHORIZATION=f"Bearer {tokens['viewer']}") == 403
    assert github(HTTP_AUTHORIZATION=f"Bearer {tokens['admin']}") == 200
    # No secret configured: a signature alone opens nothing.
    assert github(HTTP_X_HUB_SIGNATURE_256=github_signature(body, "s3cret")) == 401

    settings.HKUBE_BUILD_WEBHOOK_SECRET = "s3cret"
    assert github(HTTP_X_HUB_SIGNATURE_256=github_signature(body, "s3cret")) == 200
    assert github(HTTP_X_HUB_SIGNATURE_256=github_signature(body, "wrong")) == 401
    assert github(HTTP_X_HUB_SIGNATURE_256=github_signature(body + b" ", "s3cret")) == 401
    assert github() == 401
    gitlab = json.dumps(gitlab_push())
    url = "/api/v1/builds/webhook/gitlab"
    assert (
        client.post(url, gitlab, content_type="application/json", HTTP_X_GITLAB_TOKEN="s3cret").status_code
        == 200
    )
    assert (
        client.post(url, gitlab, content_type="application/json", HTTP_X_GITLAB_TOKEN="nope").status_code
        == 401
    )
    assert (
        Build.objects.filter(algorithm_name="a1").count() == 2
        and Build.objects.filter(algorithm_name="gl").count() == 1
    )


@pytest.mark.django_db
def test_without_auth_a_configured_secret_is_still_required(client: Client, settings: Any):
    settings.HKUBE_BUILD_WEBHOOK_SECRET = "s3cret"
    store("a1")
    body = json.dumps(github_push()).encode()
    url = "/api/v1/builds/webhook/github"
    assert client.post(url, body, content_type="application/json").status_code == 401
    signed = client.post(
        url, body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=github_signature(body, "s3cret")
    )
    assert signed.status_code == 200
