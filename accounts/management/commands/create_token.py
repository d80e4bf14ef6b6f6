"""`python manage.py create_token NAME --role viewer|operator|admin`: prints the token once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import ApiToken, create_token
from accounts.roles import ROLE_NAMES


class Command(BaseCommand):
    help = "Create an API token (HKUBE_AUTH=token). It is printed once and stored hashed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="who or what uses the token (unique)")
        parser.add_argument("--role", choices=ROLE_NAMES, default="viewer")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(
                f"a token named {name!r} exists: revoke it (revoke_token) or pick another name"
            )
        _, token = create_token(name, options["role"])
        self.stderr.write(f"token {name!r} ({options['role']}); it is not shown again:")
        self.stdout.write(token)
