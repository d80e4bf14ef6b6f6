"""`manage.py prepare_build_context <buildId> --output DIR`: the build Job's init container
writes the build's context (Dockerfile and code) for the kaniko-compatible builder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from builds.context import prepare_build_context
from builds.packaging import PackagingError
from builds.process import BuildError
from hkube_site.errors import NotFound
from storage import StorageError


class Command(BaseCommand):
    help = "Write a build's context (Dockerfile, code) into a folder for an image builder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("build_id")
        parser.add_argument("--output", required=True, type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            dockerfile = prepare_build_context(options["build_id"], options["output"])
        except (NotFound, BuildError, PackagingError, StorageError) as exc:
            # The message ends the init container's log, which the build's log shows.
            raise CommandError(f"cannot prepare build {options['build_id']}: {exc}") from exc
        self.stdout.write(f"build context written: {dockerfile}")
        self.stdout.write(dockerfile.read_text(encoding="utf-8"))
