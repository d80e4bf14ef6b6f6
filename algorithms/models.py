"""Algorithm descriptors and their versions."""

from __future__ import annotations

from typing import Any

from django.db import models

from pipelines.models import now_ms


class Algorithm(models.Model):
    """The current descriptor of an algorithm (defaults applied), as `store/algorithms` shows it."""

    name = models.CharField(max_length=32, unique=True)
    descriptor: models.JSONField[Any] = models.JSONField()
    version = models.CharField(max_length=16, blank=True, default="")
    created = models.BigIntegerField(default=now_ms)
    modified = models.BigIntegerField(default=now_ms)
    audit_trail: models.JSONField[Any] = models.JSONField(default=list)

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        return self.name

    def as_api(self) -> dict[str, Any]:
        return {
            **self.descriptor,
            "name": self.name,
            "version": self.version,
            "created": self.created,
            "modified": self.modified,
            "auditTrail": self.audit_trail,
        }


class AlgorithmVersion(models.Model):
    """An immutable version: descriptor plus (for code) the unpacked code and its environment."""

    algorithm_name = models.CharField(max_length=32, db_index=True)
    version = models.CharField(max_length=16, unique=True)
    semver = models.CharField(max_length=32)
    descriptor: models.JSONField[Any] = models.JSONField()
    build_id = models.CharField(max_length=64, null=True, blank=True)
    created = models.BigIntegerField(default=now_ms)
    created_by = models.CharField(max_length=64, default="defaultUser")
    pinned = models.BooleanField(default=False)
    tags: models.JSONField[Any] = models.JSONField(default=list, blank=True)
    alias = models.CharField(max_length=64, blank=True, default="")
    # Where the runnable code lives on this machine (empty for image-only algorithms).
    code_path = models.CharField(max_length=1024, blank=True, default="")
    env_path = models.CharField(max_length=1024, blank=True, default="")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.algorithm_name}@{self.version}"

    def as_api(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "semver": self.semver,
            "versionAlias": self.alias or f"v{self.semver}",
            "created": self.created,
            "createdBy": self.created_by,
            "name": self.algorithm_name,
            "buildId": self.build_id,
            "pinned": self.pinned,
            "tags": self.tags,
            "algorithm": self.descriptor,
        }
