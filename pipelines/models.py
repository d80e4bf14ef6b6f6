"""Stored pipelines, jobs (one run of a pipeline), their nodes and their tasks."""

from __future__ import annotations

from typing import Any

from django.db import models


def now_ms() -> int:
    import time

    return int(time.time() * 1000)


class Pipeline(models.Model):
    """A stored pipeline descriptor (`store/pipelines`), defaults applied."""

    name = models.CharField(max_length=256, unique=True)
    descriptor: models.JSONField[Any] = models.JSONField()
    version = models.CharField(max_length=16)
    created = models.BigIntegerField(default=now_ms)
    modified = models.BigIntegerField(default=now_ms)
    audit_trail: models.JSONField[Any] = models.JSONField(default=list)
    # The admin's "pipeline triggers off": kept out of the HKube descriptor (its schema has no
    # such key), so turning them off neither changes nor versions the pipeline.
    triggers_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def as_api(self) -> dict[str, Any]:
        return {
            **self.descriptor,
            "name": self.name,
            "created": self.created,
            "modified": self.modified,
            "version": self.version,
            "auditTrail": self.audit_trail,
        }


class JobStatus(models.TextChoices):
    PENDING = "pending"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    PAUSED = "paused"
    RESUMED = "resumed"


FINAL_JOB_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)
# The job type of a sub-pipeline started from algorithm code (pipelines.subpipelines).
SUB_PIPELINE_TYPE = "sub-pipeline"
# A job that has not ended: it holds a concurrency slot, a stop applies to it, pause accepts it.
RUNNING_JOB_STATUSES = (JobStatus.PENDING, JobStatus.ACTIVE, JobStatus.PAUSED, JobStatus.RESUMED)


class Job(models.Model):
    """One execution of a pipeline. Status changes are compare-and-swap in services."""

    job_id = models.CharField(max_length=32, primary_key=True)
    pipeline_name = models.CharField(max_length=256, db_index=True)
    experiment = models.CharField(max_length=64, default="main")
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True
    )
    priority = models.PositiveSmallIntegerField(default=3)
    # The executed pipeline (defaults applied, flowInput replaced by flowInputMetadata).
    pipeline: models.JSONField[Any] = models.JSONField()
    # What the user submitted (after the stored merge); used by rerun.
    user_pipeline: models.JSONField[Any] = models.JSONField()
    types: models.JSONField[Any] = models.JSONField(default=list)
    tags: models.JSONField[Any] = models.JSONField(default=list)
    external_id = models.CharField(max_length=256, null=True, blank=True, db_index=True)
    root_job_id = models.CharField(max_length=32, null=True, blank=True, db_index=True)
    parent_job_id = models.CharField(max_length=32, null=True, blank=True, db_index=True)
    start_time = models.BigIntegerField(default=now_ms, db_index=True)
    active_time = models.BigIntegerField(null=True, blank=True)
    end_time = models.BigIntegerField(null=True, blank=True)
    status_timestamp = models.BigIntegerField(default=now_ms)
    level = models.CharField(max_length=16, default="info")
    # `status.data` once frozen at the end; computed live while the job runs.
    status_data: models.JSONField[Any] = models.JSONField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    error_node = models.CharField(max_length=256, null=True, blank=True)
    reason = models.TextField(null=True, blank=True)
    # The result object without `data`; `data` is `{storageInfo: {path}}` when completed.
    result: models.JSONField[Any] = models.JSONField(null=True, blank=True)
    audit_trail: models.JSONField[Any] = models.JSONField(default=list)
    max_exceeded = models.BooleanField(default=False)
    # Its place in the preferred queue (`queue/preferred`) while it waits to start; None: managed.
    preferred_rank = models.IntegerField(null=True, blank=True)
    completion = models.BooleanField(default=False)

    class Meta:
        ordering = ["-start_time"]
        indexes = [models.Index(fields=["pipeline_name", "status"])]

    def __str__(self) -> str:
        return f"{self.job_id} ({self.pipeline_name}, {self.status})"


class NodeStatus(models.TextChoices):
    CREATING = "creating"
    ACTIVE = "active"
    SUCCEED = "succeed"
    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPED = "stopped"


FINAL_NODE_STATUSES = (NodeStatus.SUCCEED, NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.STOPPED)


class JobNode(models.Model):
    """One node of one job: its plan once dispatched and its output once finished."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="nodes", db_column="job_id")
    node_name = models.CharField(max_length=256)
    algorithm_name = models.CharField(max_length=64, blank=True, default="")
    algorithm_version = models.CharField(max_length=16, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    level = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=NodeStatus.choices, default=NodeStatus.CREATING)
    is_batch = models.BooleanField(default=False)
    # Number of tasks: 1 for a plain node, N for a batch once expanded.
    total = models.PositiveIntegerField(default=1)
    succeed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # The compact task plan (template + references) sent to algorithm workers.
    spec: models.JSONField[Any] = models.JSONField(null=True, blank=True)
    # What children read: see pipelines.engine.planning for the shapes.
    output: models.JSONField[Any] = models.JSONField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    celery_ids: models.JSONField[Any] = models.JSONField(default=list, blank=True)
    start_time = models.BigIntegerField(null=True, blank=True)
    end_time = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "node_name"], name="uniq_job_node")]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.node_name} ({self.status})"


class TaskStatus(models.TextChoices):
    PENDING = "pending"
    ACTIVE = "active"
    STORING = "storing"
    SUCCEED = "succeed"
    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPED = "stopped"
    CRASHED = "crashed"
    WARNING = "warning"


# An item that ran to its end: a redelivered message does not run it again. A `stopped`
# item ran nothing (its job was stopped), so it is not in this set.
FINAL_TASK_STATUSES = (TaskStatus.SUCCEED, TaskStatus.FAILED, TaskStatus.CRASHED)
# A task that is no longer running, for whatever reason (what the graph shows without progress).
ENDED_TASK_STATUSES = (*FINAL_TASK_STATUSES, TaskStatus.STOPPED, TaskStatus.SKIPPED)


class Task(models.Model):
    """One execution of an algorithm for a node (a batch node has one per item).

    Rows are written in bulk by the algorithm worker when a chunk of items ends, so a
    task that is queued or running may have no row yet (its node knows the count).
    """

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="tasks", db_column="job_id")
    node_name = models.CharField(max_length=256)
    task_id = models.CharField(max_length=16, db_index=True)
    batch_index = models.IntegerField(default=0)
    algorithm_name = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    attempt = models.PositiveSmallIntegerField(default=1)
    error = models.TextField(null=True, blank=True)
    # The storing payload: {storageInfo: {path, size}, metadata}.
    result: models.JSONField[Any] = models.JSONField(null=True, blank=True)
    start_time = models.BigIntegerField(null=True, blank=True)
    end_time = models.BigIntegerField(null=True, blank=True)
    worker = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["job", "node_name", "batch_index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "node_name", "batch_index"], name="uniq_job_node_item")
        ]
        indexes = [models.Index(fields=["job", "node_name", "status"])]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.node_name}#{self.batch_index} ({self.status})"


class WebhookKind(models.TextChoices):
    PROGRESS = "progress"
    RESULT = "result"


class WebhookDelivery(models.Model):
    """The outcome of a job's progress or result webhook (`GET /webhooks/status|results/{jobId}`).

    One row per (job, kind), rewritten by each attempt; the progress row keeps the latest
    event (`event_timestamp`), so a late delivery of an older event never hides a newer one.
    """

    job_id = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=WebhookKind.choices)
    url = models.TextField()
    pipeline_status = models.CharField(max_length=16)
    status = models.CharField(max_length=16, default="completed")
    response_status = models.CharField(max_length=16)  # succeed | failed
    # The HTTP status, or None when no response came back (then `error_code`, e.g. ECONNREFUSED).
    http_status_code = models.IntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    http_status_message = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=1)
    event_timestamp = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField(default=now_ms)

    class Meta:
        ordering = ["job_id", "kind"]
        constraints = [models.UniqueConstraint(fields=["job_id", "kind"], name="uniq_webhook_job_kind")]

    def __str__(self) -> str:
        return f"{self.job_id} {self.kind} ({self.response_status})"

    def as_api(self) -> dict[str, Any]:
        code: int | str | None = self.http_status_code
        if code is None:
            code = self.error_code or None
        return {
            "jobId": self.job_id,
            "url": self.url,
            "pipelineStatus": self.pipeline_status,
            "status": self.status,
            "responseStatus": self.response_status,
            "httpResponse": {"statusCode": code, "statusMessage": self.http_status_message},
            "timestamp": self.timestamp,
        }


class TriggerKind(models.TextChoices):
    PIPELINE = "pipeline"
    CRON = "cron"


class TriggerRun(models.Model):
    """A job started by a trigger, claimed before the job is submitted so a redelivered
    event or cron tick never starts it twice.

    `source` is the finished parent job (pipeline triggers) or the beat message id (cron).
    Pipeline-trigger rows are also HKube's triggers tree (`GET /exec/tree/{rootJobId}`).
    """

    kind = models.CharField(max_length=16, choices=TriggerKind.choices)
    source = models.CharField(max_length=64)
    pipeline_name = models.CharField(max_length=256)
    job_id = models.CharField(max_length=32, null=True, blank=True)
    root_job_id = models.CharField(max_length=32, null=True, blank=True, db_index=True)
    error = models.TextField(null=True, blank=True)
    created = models.BigIntegerField(default=now_ms)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "source", "pipeline_name"], name="uniq_trigger_run")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source} -> {self.pipeline_name} ({self.job_id or self.error})"


class Experiment(models.Model):
    """A namespace for jobs (`experimentName`); `main` always exists and cannot be deleted."""

    name = models.CharField(max_length=32, unique=True)
    description = models.TextField(blank=True, default="")
    created = models.BigIntegerField(default=now_ms)

    class Meta:
        ordering = ["created", "name"]

    def __str__(self) -> str:
        return self.name

    def as_api(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "created": self.created}


class ReadmeKind(models.TextChoices):
    ALGORITHM = "algorithm"
    PIPELINE = "pipeline"


class Readme(models.Model):
    """The markdown README of a stored algorithm or pipeline (`readme/algorithms|pipelines/{name}`),
    deleted with its owner."""

    kind = models.CharField(max_length=16, choices=ReadmeKind.choices)
    name = models.CharField(max_length=256)
    readme = models.TextField()
    modified = models.BigIntegerField(default=now_ms)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="uniq_readme_owner")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class PipelineVersion(models.Model):
    """An immutable stored descriptor of a pipeline: every stored change is one
    (`versions/pipelines/{name}`). Versions outlive a pipeline deleted with `keepOldVersions`."""

    pipeline_name = models.CharField(max_length=256, db_index=True)
    version = models.CharField(max_length=16, unique=True)
    semver = models.CharField(max_length=32)
    descriptor: models.JSONField[Any] = models.JSONField()
    created = models.BigIntegerField(default=now_ms)
    created_by = models.CharField(max_length=64, default="defaultUser")
    alias = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.pipeline_name}@{self.version}"

    def as_api(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "semver": self.semver,
            "versionAlias": self.alias or f"v{self.semver}",
            "created": self.created,
            "createdBy": self.created_by,
            "name": self.pipeline_name,
            "pipeline": {**self.descriptor, "name": self.pipeline_name, "version": self.version},
        }
