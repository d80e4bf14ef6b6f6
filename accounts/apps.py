from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who may call what: API tokens, OIDC bearer tokens, roles (see accounts/gate.py)."""

    name = "accounts"
    verbose_name = "Access"
