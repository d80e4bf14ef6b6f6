from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class AccountsConfig(AppConfig):
    """Who may call what: API tokens, OIDC bearer tokens, roles (see accounts/gate.py)."""

    name = "accounts"
    verbose_name = "Access"

    def ready(self) -> None:
        check_oidc_settings()


def check_oidc_settings() -> None:
    """A bad OIDC setting stops every process at start-up, not each request with a 500."""
    from accounts import oidc

    if settings.HKUBE_AUTH != "oidc":
        return
    if not settings.HKUBE_OIDC_ISSUER:
        raise ImproperlyConfigured("HKUBE_AUTH=oidc needs HKUBE_OIDC_ISSUER (e.g. https://kc/realms/hkube)")
    try:
        oidc.role_map(str(settings.HKUBE_OIDC_ROLE_MAP))
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
