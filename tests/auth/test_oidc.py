"""OIDC: the JWT's signature (the issuer's JWKS), expiry, issuer and audience are checked;
roles come from a configurable claim, mapped by settings."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth.conftest import Issuer, Send

READ = "/api/v1/store/pipelines"
RUN = "/api/v1/exec/raw"


def _refused(response: Any, words: str) -> None:
    assert response.status_code == 401, response.content
    assert words in response.json()["error"]["message"]


def test_a_token_signed_by_another_key_is_refused(oidc_mode: dict[str, str], issuer: Issuer, send: Send):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    _refused(send("GET", READ, issuer.token(["API_EDIT"], key=stranger)), "Signature verification failed")


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"exp": 1000}, "expired"),
        ({"iss": "https://elsewhere.test/realms/hkube"}, "issuer"),
        ({"aud": "another-client"}, "Audience"),
    ],
)
def test_expired_foreign_or_misaddressed_tokens_are_refused(
    oidc_mode: dict[str, str], issuer: Issuer, send: Send, claims: dict[str, Any], words: str
):
    _refused(send("GET", READ, issuer.token(["API_EDIT"], **claims)), words)


def test_a_token_without_an_hkube_role_is_refused(oidc_mode: dict[str, str], issuer: Issuer, send: Send):
    _refused(send("GET", READ, issuer.token(["offline_access"])), "has no HKube role")


def test_an_unreachable_jwks_is_a_401_not_a_500(
    oidc_mode: dict[str, str], settings: Any, issuer: Issuer, send: Send
):
    settings.HKUBE_OIDC_JWKS_URL = "http://127.0.0.1:9/certs"

    _refused(send("GET", READ, issuer.token(["API_VIEW"])), "cannot check the token's signature")


def test_roles_claim_and_role_names_come_from_settings(
    oidc_mode: dict[str, str], settings: Any, issuer: Issuer, send: Send
):
    settings.HKUBE_OIDC_ROLES_CLAIM = "resource_access.hkube.roles"
    settings.HKUBE_OIDC_ROLE_MAP = "pipeline-runner=operator"
    token = issuer.token([], resource_access={"hkube": {"roles": ["pipeline-runner"]}})

    assert send("POST", RUN, token, {}).status_code == 400  # an operator: the view answered
    assert send("DELETE", "/api/v1/store/pipelines/p", token).status_code == 403


def test_the_keys_are_fetched_once_and_cached(oidc_mode: dict[str, str], issuer: Issuer, send: Send):
    for _ in range(3):
        assert send("GET", READ, oidc_mode["viewer"]).status_code == 200

    assert issuer.jwks_requests == 1


@pytest.mark.parametrize(
    ("issuer_url", "role_map", "words"),
    [
        ("", "", "needs HKUBE_OIDC_ISSUER"),
        ("https://kc", "runner", "not claim-role=role"),
        ("https://kc", "x=root", "root"),
    ],
)
def test_bad_oidc_settings_stop_start_up(settings: Any, issuer_url: str, role_map: str, words: str):
    from django.core.exceptions import ImproperlyConfigured

    from accounts.apps import check_oidc_settings

    settings.HKUBE_AUTH = "oidc"
    settings.HKUBE_OIDC_ISSUER = issuer_url
    settings.HKUBE_OIDC_ROLE_MAP = role_map

    with pytest.raises(ImproperlyConfigured, match=words):
        check_oidc_settings()
