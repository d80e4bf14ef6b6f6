"""API tokens for each role, and an OIDC issuer of our own: an RSA key and its JWKS served
by a local HTTP server, so tokens are checked exactly as against Keycloak."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from accounts import oidc
from accounts.models import create_token

ISSUER = "https://keycloak.test/realms/hkube"
AUDIENCE = "hkube-api"
ROLES = ("viewer", "operator", "admin")
# HKube's Keycloak roles for each of ours (accounts/oidc.py maps them back).
KEYCLOAK_ROLES = {
    "viewer": ["API_VIEW"],
    "operator": ["API_VIEW", "API_EXECUTE"],
    "admin": ["API_EDIT", "API_DELETE"],
}


@pytest.fixture
def token_mode(settings: Any, db: None) -> dict[str, str]:
    """HKUBE_AUTH=token and one token per role, by role."""
    settings.HKUBE_AUTH = "token"
    return {role: create_token(f"{role}-token", role)[1] for role in ROLES}


class Issuer:
    def __init__(self, jwks_url: str) -> None:
        self.jwks_url = jwks_url
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.jwks_requests = 0

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def token(self, roles: list[str], key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-1",
            "preferred_username": "alice",
            "iat": now,
            "exp": now + 300,
            "realm_access": {"roles": roles},
            **claims,
        }
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    holder: list[Issuer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            holder[0].jwks_requests += 1
            payload = json.dumps(holder[0].jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Issuer(f"http://127.0.0.1:{server.server_address[1]}/protocol/openid-connect/certs"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    oidc._jwks_client.cache_clear()
    yield holder[0]
    oidc._jwks_client.cache_clear()
    server.shutdown()
    server.server_close()


@pytest.fixture
def oidc_mode(settings: Any, db: None, issuer: Issuer) -> dict[str, str]:
    """HKUBE_AUTH=oidc against the test issuer, and a JWT per role, by role."""
    settings.HKUBE_AUTH = "oidc"
    settings.HKUBE_OIDC_ISSUER = ISSUER
    settings.HKUBE_OIDC_AUDIENCE = AUDIENCE
    settings.HKUBE_OIDC_JWKS_URL = issuer.jwks_url
    return {role: issuer.token(KEYCLOAK_ROLES[role]) for role in ROLES}


Send = Callable[..., Any]


@pytest.fixture
def send(client: Client) -> Send:
    """`send(method, path, token=None, body=None)` through Django's client."""

    def call(method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = json.dumps(body) if body is not None else None
        return client.generic(method, path, data=data or "", content_type="application/json", headers=headers)

    return call
