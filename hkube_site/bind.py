"""Which addresses `manage.py up` may serve on: an open HKube (HKUBE_AUTH=none) runs uploaded
code for anyone who reaches its port, so it stays on the loopback unless forced."""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def refusal(host: str, auth: str, insecure_bind: bool) -> str | None:
    """Why `up` must not bind ``host``, or None when it may."""
    if auth != "none" or insecure_bind or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host} without authentication: anyone who reaches it could run code "
        "on this machine. Set HKUBE_AUTH=token (then create a token: python manage.py create_token NAME "
        "--role admin) or HKUBE_AUTH=oidc, or keep the default --host 127.0.0.1; "
        "--insecure-bind serves it open anyway"
    )
