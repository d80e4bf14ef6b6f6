"""Logs and the cluster's view: `logsByQuery`, `diskSpace`, `healthMonitoring`, and the
fields this server answers empty because it keeps no such thing (`errorLogs`,
`nodeStatistics`, `discovery`'s HKube services, data sources)."""

from __future__ import annotations

import shutil
from typing import Any

import redis
from ariadne import QueryType
from django.conf import settings
from django.db import DatabaseError, connection

from graphql_api.types import Info
from hkube_site import redis_client
from hkube_site.errors import NotFound
from hkube_site.object_store import get_storage
from pipelines import logs, services
from pipelines.models import Task

query = QueryType()

# HKube's pod states for the logs panel.
POD_NORMAL = "NORMAL"
POD_NOT_EXIST = "NOT_EXIST"
LEVELS = {"stderr": "error"}  # stdout, the wrapper's lines and ours are `info`


@query.field("logsByQuery")
def resolve_logs(
    _: None,
    info: Info,
    podName: str,
    taskId: str,
    searchWord: str | None = None,
    limit: int | None = None,
    **unused: Any,
) -> dict[str, Any]:
    """A task's log (`pipelines.logs`), its last `limit` lines, those with `searchWord` only.

    `source`, `nodeKind`, `logMode` and `containerNames` pick between HKube's log backends
    and containers; here a task has one log, so they change nothing."""
    job_id = Task.objects.filter(task_id=taskId).values_list("job_id", flat=True).first()
    document = None
    if job_id is not None:
        document = logs.read_task_log(get_storage(), services.cluster(), job_id, taskId)
    if document is None:
        return {"logs": [], "podStatus": POD_NOT_EXIST}
    lines = [
        {"level": LEVELS.get(line.get("stream", ""), "info"), **line}
        for line in document["lines"]
        if not searchWord or searchWord.lower() in line.get("message", "").lower()
    ]
    count = logs.DEFAULT_LIMIT if limit is None else max(limit, 0)
    return {"logs": lines[-count:] if count else [], "podStatus": POD_NORMAL}


@query.field("diskSpace")
def resolve_disk_space(_: None, info: Info) -> dict[str, Any]:
    """Bytes of the file system that holds the storage; unknown (null) for S3."""
    if settings.HKUBE_STORAGE != "fs":
        return {"size": None, "free": None}
    folder = settings.HKUBE_STORAGE_DIR
    # Before the first object is stored the folder may not exist: its file system is its parent's.
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    usage = shutil.disk_usage(folder)
    return {"size": usage.total, "free": usage.free}


@query.field("healthMonitoring")
def resolve_health(_: None, info: Info) -> dict[str, Any]:
    """Whether the database and Redis answer."""
    statuses = {"database": _database_ok(), "redis": _redis_ok()}
    services_ = [
        {"serviceName": name, "status": "healthy" if ok else "unhealthy"} for name, ok in statuses.items()
    ]
    return {
        "overallHealthStatus": "healthy" if all(statuses.values()) else "unhealthy",
        "services": services_,
    }


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


def _redis_ok() -> bool:
    try:
        return bool(redis_client.client().ping())
    except redis.RedisError:
        return False


@query.field("discovery")
def resolve_discovery(_: None, info: Info) -> dict[str, Any]:
    """HKube's services register themselves in discovery; this server has none of them
    (pipeline drivers, task executors), so the lists are empty."""
    return {"pipelineDriver": [], "worker": [], "taskExecutor": []}


@query.field("errorLogs")
@query.field("nodeStatistics")
@query.field("DataSourceVersions")
@query.field("DataSourceSnapanshots")
@query.field("DataSourcePreviewQuery")
def resolve_nothing(_: None, info: Info, **unused: Any) -> list[Any]:
    return []


@query.field("dataSources")
def resolve_data_sources(_: None, info: Info) -> dict[str, Any]:
    return {"list": [], "dataSourcesCount": 0}


@query.field("dataSource")
def resolve_data_source(_: None, info: Info, id: str, name: str) -> None:
    raise NotFound("dataSource", name)
