"""API tokens: a name, a role, the token's SHA-256 (the token itself is shown once)."""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils import timezone

from accounts.roles import ROLE_NAMES, Role

TOKEN_PREFIX = "hkube_"


def hash_token(token: str) -> str:
    # Tokens are 256 random bits: a plain SHA-256 cannot be brute-forced, and it lets a
    # request find its row by an indexed lookup instead of checking every row's salt.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    name = models.CharField(max_length=100, unique=True)
    role = models.CharField(max_length=16, choices=[(r, r) for r in ROLE_NAMES])
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=16, editable=False, help_text="the token's first characters")
    created = models.DateTimeField(default=timezone.now, editable=False)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name} ({self.role}{', revoked' if self.revoked else ''})"

    @property
    def role_value(self) -> Role:
        return Role.parse(self.role)

    def set_new_token(self) -> str:
        """A fresh token for this row; only its digest is kept, so return it to show once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.digest = hash_token(token)
        self.hint = token[: len(TOKEN_PREFIX) + 4]
        return token


def create_token(name: str, role: str) -> tuple[ApiToken, str]:
    row = ApiToken(name=name, role=Role.parse(role).label)
    token = row.set_new_token()
    row.save()
    return row, token


def revoke_token(name: str) -> bool:
    return ApiToken.objects.filter(name=name, revoked__isnull=True).update(revoked=timezone.now()) == 1


def find_token(token: str) -> ApiToken | None:
    """The live row for ``token``; a revoked or unknown token is None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = ApiToken.objects.filter(digest=hash_token(token), revoked__isnull=True).first()
    if row is not None and (row.last_used is None or (timezone.now() - row.last_used).total_seconds() > 60):
        # At most once a minute, so reads do not all become writes.
        ApiToken.objects.filter(pk=row.pk).update(last_used=timezone.now())
    return row
