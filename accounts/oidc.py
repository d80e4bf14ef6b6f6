"""OIDC bearer tokens: a JWT signed by the issuer's keys (JWKS), its roles read from a claim.

The signature, expiry, issuer and (when configured) audience are checked by PyJWT; the
keys are fetched from the JWKS URL and cached by `PyJWKClient` (a new `kid` refetches, so a
key rotation needs no restart). Roles are read from a dotted claim path (Keycloak puts
realm roles at `realm_access.roles`) and mapped onto ours; the highest one wins.
"""

from __future__ import annotations

import functools
from typing import Any

import jwt
from django.conf import settings

from accounts.roles import Role

# HKube's Keycloak realm roles for its api-server, and our own names.
DEFAULT_ROLE_MAP: dict[str, Role] = {
    "api_view": Role.VIEWER,
    "api_execute": Role.OPERATOR,
    "api_edit": Role.ADMIN,
    "api_delete": Role.ADMIN,
    "viewer": Role.VIEWER,
    "operator": Role.OPERATOR,
    "admin": Role.ADMIN,
}


class InvalidToken(Exception):
    """The bearer token is not one this server accepts (said in the 401)."""


def role_map(text: str) -> dict[str, Role]:
    """`HKUBE_OIDC_ROLE_MAP` (`claim-role=hkube-role,...`) on top of the defaults; case-insensitive."""
    mapping = dict(DEFAULT_ROLE_MAP)
    for pair in filter(None, (p.strip() for p in text.split(","))):
        claim_role, sep, ours = pair.partition("=")
        if not sep:
            raise ValueError(f"HKUBE_OIDC_ROLE_MAP: {pair!r} is not claim-role=role")
        mapping[claim_role.strip().lower()] = Role.parse(ours)
    return mapping


def claim_roles(claims: dict[str, Any], path: str) -> list[str]:
    value: Any = claims
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def best_role(names: list[str], mapping: dict[str, Role]) -> Role | None:
    found = [mapping[n.lower()] for n in names if n.lower() in mapping]
    return max(found) if found else None


@functools.lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=10)


def jwks_url() -> str:
    configured = str(settings.HKUBE_OIDC_JWKS_URL)
    if configured:
        return configured
    issuer = str(settings.HKUBE_OIDC_ISSUER).rstrip("/")
    return f"{issuer}/protocol/openid-connect/certs"  # Keycloak's


def verify(token: str) -> tuple[str, Role | None]:
    """The subject (preferred_username, else sub) and role of a valid token."""
    issuer = str(settings.HKUBE_OIDC_ISSUER)
    if not issuer:
        raise InvalidToken("HKUBE_AUTH=oidc needs HKUBE_OIDC_ISSUER")
    audience = str(settings.HKUBE_OIDC_AUDIENCE) or None
    try:
        key = _jwks_client(jwks_url()).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=list(settings.HKUBE_OIDC_ALGORITHMS),
            issuer=issuer,
            audience=audience,
            options={"verify_aud": audience is not None, "require": ["exp", "iss"]},
        )
    except jwt.PyJWKClientError as exc:
        raise InvalidToken(f"cannot check the token's signature: {exc}") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    mapping = role_map(str(settings.HKUBE_OIDC_ROLE_MAP))
    role = best_role(claim_roles(claims, str(settings.HKUBE_OIDC_ROLES_CLAIM)), mapping)
    subject = str(claims.get("preferred_username") or claims.get("sub") or "")
    return subject, role
