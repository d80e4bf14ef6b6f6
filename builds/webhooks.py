"""Git push webhooks (`builds/webhook/github`, `builds/webhook/gitlab`), as HKube's api-server.

A push event names a repository, a branch and a commit. This module reads both providers'
payload shapes into one ``PushEvent``, checks a provider's signature when a webhook secret is
configured (GitHub's `X-Hub-Signature-256` HMAC of the body, GitLab's `X-Gitlab-Token`), and
says whether an algorithm's ``gitRepository`` is the one pushed. Which algorithms exist is
not its business: the caller (algorithms) asks ``matches`` of each.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from builds.git_source import DEFAULT_BRANCH
from hkube_site.errors import InvalidData


@dataclass(frozen=True)
class PushEvent:
    kind: str  # github | gitlab
    urls: frozenset[str]  # the repository's web and clone URLs, normalised
    branch: str
    commit: dict[str, Any]  # {id, timestamp, message}


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    return url.lower()


def _branch(ref: Any) -> str:
    text = str(ref or "")
    return text[len("refs/heads/") :] if text.startswith("refs/heads/") else text


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidData("data should be object")
    return data


def github_payload(data: Any) -> dict[str, Any]:
    """GitHub posts a form with `payload` = the push JSON string (or the JSON itself)."""
    body = _object(data)
    if "payload" in body and isinstance(body["payload"], str):
        try:
            return _object(json.loads(body["payload"]))
        except ValueError as exc:
            raise InvalidData("data.payload should be a JSON string") from exc
    return body


def _urls(*candidates: Any) -> frozenset[str]:
    return frozenset(normalise_url(str(c)) for c in candidates if isinstance(c, str) and c)


def _commit(head: Any, fallback_id: Any) -> dict[str, Any]:
    head = head if isinstance(head, dict) else {}
    commit_id = head.get("id") or fallback_id
    if not commit_id:
        raise InvalidData("data should have required property 'after'")
    return {"id": str(commit_id), "timestamp": head.get("timestamp"), "message": head.get("message")}


def parse_github(data: Any) -> PushEvent:
    push = github_payload(data)
    repo = push.get("repository")
    if not isinstance(repo, dict):
        raise InvalidData("data should have required property 'repository'")
    if not push.get("ref"):
        raise InvalidData("data should have required property 'ref'")
    return PushEvent(
        kind="github",
        urls=_urls(repo.get("html_url"), repo.get("clone_url"), repo.get("url"), repo.get("git_url")),
        branch=_branch(push.get("ref")),
        commit=_commit(push.get("head_commit"), push.get("after")),
    )


def parse_gitlab(data: Any) -> PushEvent:
    push = _object(data)
    project: dict[str, Any] = push["project"] if isinstance(push.get("project"), dict) else {}
    repo: dict[str, Any] = push["repository"] if isinstance(push.get("repository"), dict) else {}
    if not project and not repo:
        raise InvalidData("data should have required property 'project'")
    if not push.get("ref"):
        raise InvalidData("data should have required property 'ref'")
    commits: list[Any] = push["commits"] if isinstance(push.get("commits"), list) else []
    sha = push.get("checkout_sha") or push.get("after")
    head = next((c for c in commits if isinstance(c, dict) and c.get("id") == sha), None)
    return PushEvent(
        kind="gitlab",
        urls=_urls(
            project.get("web_url"),
            project.get("git_http_url"),
            repo.get("homepage"),
            repo.get("git_http_url"),
            repo.get("url"),
        ),
        branch=_branch(push.get("ref")),
        commit=_commit(head, sha),
    )


def matches(git_repository: Any, event: PushEvent) -> bool:
    """An algorithm's ``gitRepository`` names the pushed repository and branch."""
    if not isinstance(git_repository, dict) or not git_repository.get("url"):
        return False
    urls = _urls(git_repository.get("url"), git_repository.get("webUrl"), git_repository.get("cloneUrl"))
    branch = git_repository.get("branchName") or DEFAULT_BRANCH
    return bool(urls & event.urls) and branch == event.branch


def github_signature_valid(body: bytes, header: str, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.strip())


def gitlab_token_valid(header: str, secret: str) -> bool:
    return hmac.compare_digest(secret.encode(), header.strip().encode())


def not_found_message(event: PushEvent) -> str:
    """HKube's answer to a push of a repository no algorithm names."""
    url = sorted(event.urls)[0] if event.urls else ""
    return f"no algorithms found for repository {url} and branch {event.branch}"
