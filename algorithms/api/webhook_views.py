"""`builds/webhook/github` and `builds/webhook/gitlab`: a git push rebuilds the algorithms
that name the repository (`algorithms/git_push.py`).

With `HKUBE_BUILD_WEBHOOK_SECRET` set, a request carrying the provider's signature
(GitHub's `X-Hub-Signature-256` HMAC of the body, GitLab's `X-Gitlab-Token`) is let through
the auth gate without a token, and is refused here unless the signature is valid; a request
without one needs an admin's token (and with `HKUBE_AUTH=none`, is refused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from algorithms import git_push
from builds import webhooks
from hkube_site.errors import ApiError

OBJ = {"type": "object", "additionalProperties": True}


class InvalidSignature(ApiError):
    status = 401


def _check_signature(request: Request, header: str, valid: Callable[[str, str], bool]) -> None:
    secret = str(settings.HKUBE_BUILD_WEBHOOK_SECRET)
    if not secret:
        return
    signature = request.META.get(header, "")
    if signature:
        if not valid(signature, secret):
            raise InvalidSignature("invalid webhook signature")
    elif settings.HKUBE_AUTH == "none":
        raise InvalidSignature("the webhook request is not signed")


def _started(builds: list[dict[str, Any]]) -> Response:
    return Response({"message": "OK", "builds": builds})


class GithubWebhook(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request={"application/json": OBJ}, responses={200: OBJ}, summary="GitHub push webhook")
    def post(self, request: Request) -> Response:
        body = request._request.body  # before parsing: the HMAC is over the raw bytes
        _check_signature(
            request,
            "HTTP_X_HUB_SIGNATURE_256",
            lambda signature, secret: webhooks.github_signature_valid(body, signature, secret),
        )
        return _started(git_push.rebuild(webhooks.parse_github(_as_dict(request.data))))


class GitlabWebhook(APIView):
    @extend_schema(request={"application/json": OBJ}, responses={200: OBJ}, summary="GitLab push webhook")
    def post(self, request: Request) -> Response:
        _check_signature(request, "HTTP_X_GITLAB_TOKEN", webhooks.gitlab_token_valid)
        return _started(git_push.rebuild(webhooks.parse_gitlab(_as_dict(request.data))))


def _as_dict(data: Any) -> Any:
    # A form (QueryDict) becomes a plain dict of its single values.
    return data.dict() if hasattr(data, "dict") else data
