"""The role table covers every write the API serves, so no write falls to the default by accident."""

from __future__ import annotations

import pytest

from accounts.roles import Role, required_role, write_rule
from hkube_site.urls import api_v1
from pipelines.api.missing_id import MissingId

WRITES = ("post", "put", "delete", "patch")


def _example(pattern: str) -> str:
    """A concrete path for a route regex: each named group becomes `x`."""
    import re

    route = re.sub(r"\(\?P<[^>]+>[^)]+\)", "x", pattern)
    return route.removeprefix("^").removesuffix("/?$")


def _api_writes() -> list[tuple[str, str]]:
    found = []
    for entry in api_v1:
        view = getattr(entry.callback, "view_class", None)
        if view is None or issubclass(view, MissingId) or view.__name__ == "Banner":
            continue  # the no-id 400s and the group banner: the admin-only default is right for them
        for method in WRITES:
            if hasattr(view, method) and method in view.http_method_names:
                found.append((method.upper(), _example(str(entry.pattern))))
    return found


@pytest.mark.parametrize(("method", "route"), _api_writes())
def test_every_write_of_the_api_has_a_rule(method: str, route: str) -> None:
    assert write_rule(method, route) is not None, f"{method} {route}: add it to accounts/roles.py"


def test_reads_need_a_viewer_and_writes_default_to_admin() -> None:
    assert required_role("GET", "/api/v1/exec/status/j1") == Role.VIEWER
    assert required_role("POST", "/api/v1/exec/raw") == Role.OPERATOR
    assert required_role("POST", "/hkube/api-server/api/v1/store/algorithms/apply/") == Role.ADMIN
    assert required_role("PATCH", "/api/v1/exec/raw") == Role.ADMIN
    assert required_role("POST", "/jobs/") == Role.ADMIN
    assert required_role("GET", "/static/x.css") is None


def test_graphql_is_a_read_for_a_viewer() -> None:
    from accounts.roles import Role, required_role

    assert required_role("POST", "/graphql") == Role.VIEWER
    assert required_role("POST", "/hkube/api-server/graphql/") == Role.VIEWER
    assert required_role("POST", "/api/v1/gc/clean") == Role.ADMIN


def test_a_gateway_message_is_an_operators() -> None:
    assert required_role("POST", "/hkube/gateway/gw1/streaming/message") == Role.OPERATOR
    assert required_role("GET", "/hkube/gateway/gw1/streaming/info") == Role.VIEWER
    assert required_role("POST", "/hkube/gateway/gw1/other") == Role.ADMIN
