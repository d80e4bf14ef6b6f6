"""Code builds: an uploaded archive turned into a runnable algorithm version."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from pipelines.models import now_ms

GIT_EXT = "git"  # the file_ext of a build whose code comes from a git repository, not an archive


class BuildStatus(models.TextChoices):
    PENDING = "pending"
    CREATING = "creating"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"


class Build(models.Model):
    build_id = models.CharField(max_length=64, primary_key=True)
    algorithm_name = models.CharField(max_length=32, db_index=True)
    env = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=BuildStatus.choices, default=BuildStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    file_ext = models.CharField(max_length=8, blank=True, default="")
    file_path = models.CharField(max_length=512, blank=True, default="")
    checksum = models.CharField(max_length=64, blank=True, default="")
    algorithm: models.JSONField[Any] = models.JSONField()
    log = models.TextField(blank=True, default="")
    error = models.TextField(null=True, blank=True)
    version = models.CharField(max_length=16, blank=True, default="")
    start_time = models.BigIntegerField(default=now_ms)
    end_time = models.BigIntegerField(null=True, blank=True)
    timestamp = models.BigIntegerField(default=now_ms)

    class Meta:
        ordering = ["-start_time"]

    def __str__(self) -> str:
        return f"{self.build_id} ({self.status})"

    def as_api(self) -> dict[str, Any]:
        return {
            "buildId": self.build_id,
            "algorithmName": self.algorithm_name,
            "env": self.env,
            "fileExt": self.file_ext,
            "filePath": self.file_path,
            "type": "Git" if self.file_ext == GIT_EXT else "Code",
            "gitRepository": self.algorithm.get("gitRepository") if self.file_ext == GIT_EXT else None,
            "algorithm": self.algorithm,
            "status": self.status,
            "progress": self.progress,
            "result": {"data": self.log, "warnings": "", "errors": self.error or ""},
            "error": self.error,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "timestamp": self.timestamp,
            "version": self.version or None,
            # HKube's build mode names the builder: kaniko in a cluster.
            "buildMode": "kaniko"
            if getattr(settings, "HKUBE_LAUNCHER", "local") == "kubernetes"
            else "local",
        }
