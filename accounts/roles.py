"""The roles and the one table that says which role each endpoint needs.

Three roles, each including the one below it (HKube's Keycloak roles map onto them,
accounts/oidc.py): a viewer reads; an operator also runs, stops, pauses, resumes and
reruns jobs; an admin also applies algorithms, stores and deletes pipelines and
algorithms, runs builds, and everything else. Reads (GET, HEAD, OPTIONS) of the API need
a viewer. A write needs the role its rule names; a write no rule names needs an admin
(default deny: a new endpoint is closed to viewers and operators until it is listed).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Role(enum.IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: expected viewer, operator or admin") from None


ROLE_NAMES = tuple(role.label for role in Role)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIXES = ("/hkube/api-server/api/v1/", "/api/v1/")
# Pages and documents anyone may fetch: assets, the API's description, the redirect to /jobs/.
PUBLIC = re.compile(r"^/(static/.*|swagger-api/?|swagger/?|redoc/?|api/?|api/v1/openapi\.json|jobs)?$")
# The admin keeps Django's own login (staff users); the gate leaves it alone.
ADMIN_SITE = "/admin/"


@dataclass(frozen=True)
class Rule:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    role: Role | None  # None: anyone, with or without credentials


def _rule(methods: str, pattern: str, role: Role | None) -> Rule:
    return Rule(frozenset(methods.split()), re.compile(rf"^(?:{pattern})/?$"), role)


_NAME = r"[^/]+"
# Writes of the API (the path after /api/v1/). Reads are the viewer's, see required_role.
WRITE_RULES: tuple[Rule, ...] = (
    # Reads that take a body.
    _rule("POST", r"exec/search", Role.VIEWER),
    _rule("POST", r"store/pipelines/graph", Role.VIEWER),
    _rule("POST", r"exec/getGraphByStreamingFlow", Role.VIEWER),
    # Running jobs.
    _rule("POST", r"exec/(raw|stored|stop|algorithm|rerun|caching|pause|resume)", Role.OPERATOR),
    _rule("POST", r"cron/(start|stop)", Role.OPERATOR),
    # Changing what exists.
    _rule("POST PUT", r"store/pipelines", Role.ADMIN),
    _rule("DELETE", rf"store/pipelines/{_NAME}", Role.ADMIN),
    _rule("POST", r"store/algorithms/apply", Role.ADMIN),
    _rule("POST PUT", r"store/algorithms", Role.ADMIN),
    _rule("DELETE", rf"store/algorithms/{_NAME}", Role.ADMIN),
    # Dev mode's code sync: new code for an algorithm, as an apply is.
    _rule("POST", rf"sync/{_NAME}", Role.ADMIN),
    _rule("POST", r"versions/algorithms/apply", Role.ADMIN),
    _rule("DELETE", rf"versions/algorithms/{_NAME}/{_NAME}", Role.ADMIN),
    _rule("POST", r"builds/(stop|rerun)", Role.ADMIN),
    # Git push webhooks: an admin's, or signed with HKUBE_BUILD_WEBHOOK_SECRET (signed_webhook).
    _rule("POST", r"builds/webhook/(github|gitlab)", Role.ADMIN),
    _rule("POST DELETE", r"experiment", Role.ADMIN),
    _rule("DELETE", rf"experiment/{_NAME}", Role.ADMIN),
    _rule("POST PUT DELETE", rf"readme/(algorithms|pipelines)/{_NAME}", Role.ADMIN),
    _rule("POST", r"versions/(algorithms|pipelines)/(apply|tag)", Role.ADMIN),
    _rule("PUT", r"versions/(algorithms|pipelines)/alias", Role.ADMIN),
    _rule("DELETE", rf"versions/pipelines/{_NAME}/{_NAME}", Role.ADMIN),
    # Ordering the jobs that wait; stopping an algorithm's workers; cleaning old data.
    _rule("POST", r"queue/preferred(/deletes)?", Role.OPERATOR),
    _rule("DELETE", rf"kubernetes/algorithms/(pods|jobs)/{_NAME}", Role.ADMIN),
    _rule("POST", rf"gc/dryrun(/{_NAME})?", Role.VIEWER),
    _rule("POST", rf"gc/clean(/{_NAME})?", Role.ADMIN),
    # HKube's boards: starting any and deleting an Optuna one need a viewer there (refused here).
    _rule("POST", r"boards/(tensors|optunas)", Role.VIEWER),
    _rule("DELETE", rf"boards/optunas/{_NAME}", Role.VIEWER),
    _rule("DELETE", rf"boards/tensors/{_NAME}", Role.ADMIN),
    # A password login is how one gets credentials: it needs none (it says how to get them).
    _rule("POST", r"auth/login", None),
)
# The git push webhooks that may come signed instead of with a token (the view checks the
# signature): GitHub's HMAC header, GitLab's token header.
SIGNED_WEBHOOK = re.compile(r"^builds/webhook/(github|gitlab)/?$")
SIGNATURE_HEADERS = ("HTTP_X_HUB_SIGNATURE_256", "HTTP_X_GITLAB_TOKEN")
# A stream job's gateway (`/hkube/gateway/<name>/streaming/message`): sending into a running
# job is an operator's.
GATEWAY = re.compile(r"^/hkube/gateway/[^/]+/streaming/message/?$")
# GraphQL (HKube's dashboard) is read-only: its POSTs are reads.
GRAPHQL = re.compile(r"^/(hkube/api-server/)?graphql/?$")


def api_route(path: str) -> str | None:
    """The route after the API prefix (`exec/raw`), or None for a path outside the API."""
    for prefix in API_PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix) :]
    return None


def is_public(path: str) -> bool:
    return PUBLIC.match(path) is not None or path.startswith(ADMIN_SITE)


def write_rule(method: str, route: str) -> Rule | None:
    for rule in WRITE_RULES:
        if method in rule.methods and rule.pattern.match(route):
            return rule
    return None


def required_role(method: str, path: str) -> Role | None:
    """The least role that may send ``method`` to ``path``; None: anyone may."""
    if is_public(path):
        return None
    method = method.upper()
    if method in READ_METHODS:
        return Role.VIEWER
    if GRAPHQL.match(path):
        return Role.VIEWER
    if GATEWAY.match(path):
        return Role.OPERATOR
    route = api_route(path)
    if route is None:
        return Role.ADMIN  # the pages only read; a write outside the API is nobody's but an admin's
    rule = write_rule(method, route)
    return rule.role if rule is not None else Role.ADMIN


def signed_webhook(method: str, path: str, meta: dict[str, str], secret: str) -> bool:
    """A git push webhook carrying a signature while a webhook secret is configured: the gate
    lets it through, and the view refuses it unless the signature is valid."""
    route = api_route(path)
    return bool(
        secret
        and method.upper() == "POST"
        and route is not None
        and SIGNED_WEBHOOK.match(route)
        and "HTTP_AUTHORIZATION" not in meta
        and any(meta.get(h) for h in SIGNATURE_HEADERS)
    )
