"""`python manage.py revoke_token NAME`: the token stops working at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import revoke_token


class Command(BaseCommand):
    help = "Revoke an API token by name."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        if not revoke_token(options["name"]):
            raise CommandError(f"no live token named {options['name']!r}")
        self.stdout.write(f"revoked {options['name']}")
