"""`POST auth/login`: HKube's password login (Keycloak's password grant). We never take
passwords: with `HKUBE_AUTH=token` a caller sends an API token, with `oidc` an access token
from the identity provider. The body is checked as HKube checks it, then the answer is a 400
in HKube's envelope that says how to authenticate here instead. Anyone may call it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hkube_site.errors import InvalidData
from hkube_site.validation import validate

LOGIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
    "required": ["username", "password"],
}
BEARER = "send it as 'Authorization: Bearer <token>'"


def login_refusal(mode: str, issuer: str) -> str:
    """What a password login gets in each auth mode: how to authenticate instead."""
    if mode == "token":
        return (
            "login with a password is not supported: this server authenticates with API tokens "
            "(HKUBE_AUTH=token). Ask an admin for one (manage.py create_token NAME --role ROLE) "
            f"and {BEARER} (hkubectl: config set token TOKEN)"
        )
    if mode == "oidc":
        where = f"at {issuer}" if issuer else "at the identity provider"
        return (
            "login with a password is not supported: this server authenticates with OIDC "
            f"(HKUBE_AUTH=oidc). Log in {where}, take its access token and {BEARER}"
        )
    return "login is not needed: authentication is off on this server (HKUBE_AUTH=none)"


class Login(APIView):
    @extend_schema(
        request={"application/json": LOGIN_SCHEMA},
        responses={400: {"type": "object", "additionalProperties": True}},
        summary="HKube's password login: answers how to authenticate here (tokens or OIDC)",
    )
    def post(self, request: Request) -> Response:
        validate(LOGIN_SCHEMA, request.data, use_defaults=False)
        raise InvalidData(login_refusal(str(settings.HKUBE_AUTH), str(settings.HKUBE_OIDC_ISSUER)))
