"""`manage.py up` stays on the loopback unless authentication is on or the bind is forced."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError, call_command

from hkube_site.bind import is_loopback, refusal


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses(host: str):
    assert is_loopback(host)
    assert refusal(host, "none", insecure_bind=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "my-server.example"])
def test_other_addresses_need_auth_or_the_force_flag(host: str):
    assert not is_loopback(host)
    assert "without authentication" in (refusal(host, "none", insecure_bind=False) or "")
    assert refusal(host, "token", insecure_bind=False) is None
    assert refusal(host, "oidc", insecure_bind=False) is None
    assert refusal(host, "none", insecure_bind=True) is None


def test_up_refuses_an_open_bind_before_starting_anything(settings: Any, tmp_path: Any):
    settings.HKUBE_AUTH = "none"
    settings.HKUBE_HOME = tmp_path / "home"

    with pytest.raises(
        CommandError, match=r"refusing to serve on 0\.0\.0\.0 without authentication.*--insecure-bind"
    ):
        call_command("up", "--host", "0.0.0.0")

    assert not (tmp_path / "home").exists()  # no lock, no Redis, no children
