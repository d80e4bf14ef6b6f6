"""The middleware that lets a request through only with a role its endpoint allows.

Runs after Django's session and authentication middleware. With `HKUBE_AUTH=none` it does
nothing. Otherwise a request carries `Authorization: Bearer <token>` (an API token in
token mode, a JWT in oidc mode) or, for reads only, a logged-in staff session (the /jobs/
pages in a browser; the session comes from the admin's login page). Sessions are not
honoured for writes: the API's views are exempt from CSRF checks, so a session that could
write would let any web page a logged-in user visits post jobs in their name.
No credentials: 401 (a page in a browser is sent to the login page instead); a role
below the endpoint's: 403; both in HKube's envelope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse

from accounts import oidc
from accounts.models import find_token
from accounts.roles import READ_METHODS, Role, required_role, signed_webhook
from hkube_site.errors import envelope

PAGES = "/jobs/"  # HTML for browsers: without credentials, the login page instead of a 401


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role
    how: str  # token, oidc or session


class Unauthorized(Exception):
    pass


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse(envelope(status, message), status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="hkube"'
    return response


def session_role(request: HttpRequest) -> Role | None:
    """A staff user's role: superusers are admins, else their `admin` or `operator` group, else viewer."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active or not user.is_staff:
        return None
    if user.is_superuser:
        return Role.ADMIN
    groups = {name.lower() for name in user.groups.values_list("name", flat=True)}
    for role in (Role.ADMIN, Role.OPERATOR):
        if role.label in groups:
            return role
    return Role.VIEWER


def bearer_caller(header: str, mode: str) -> Caller:
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    if mode == "token":
        row = find_token(token)
        if row is None:
            raise Unauthorized("invalid or revoked API token")
        return Caller(row.name, row.role_value, "token")
    try:
        subject, role = oidc.verify(token)
    except oidc.InvalidToken as exc:
        raise Unauthorized(str(exc)) from exc
    if role is None:
        claim = settings.HKUBE_OIDC_ROLES_CLAIM
        raise Unauthorized(f"the token of {subject or 'this user'} has no HKube role in its {claim} claim")
    return Caller(subject, role, "oidc")


def identify(request: HttpRequest, mode: str) -> Caller | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        return bearer_caller(header, mode)
    if request.method in READ_METHODS:
        role = session_role(request)
        if role is not None:
            return Caller(request.user.get_username(), role, "session")
    return None


class AuthGate:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        mode = str(settings.HKUBE_AUTH)
        if mode == "none":
            return self.get_response(request)
        method = (request.method or "GET").upper()
        needed = required_role(method, request.path)
        if needed is None:
            return self.get_response(request)
        if signed_webhook(method, request.path, request.META, str(settings.HKUBE_BUILD_WEBHOOK_SECRET)):
            return self.get_response(request)  # the view checks the signature
        try:
            caller = identify(request, mode)
        except Unauthorized as exc:
            return _error(401, str(exc))
        if caller is None:
            if method in READ_METHODS and request.path.startswith(PAGES):
                # A page opened in a browser: log in first, then come back.
                return HttpResponseRedirect(f"{settings.LOGIN_URL}?next={quote(request.get_full_path())}")
            return _error(
                401,
                "authentication required: send 'Authorization: Bearer <token>' "
                "(hkubectl: --token TOKEN or `hkubectl config set token TOKEN`)",
            )
        if caller.role < needed:
            return _error(
                403,
                f"{caller.name} has role {caller.role.label}; {method} {request.path} needs {needed.label}",
            )
        request.hkube_caller = caller  # type: ignore[attr-defined]
        return self.get_response(request)
