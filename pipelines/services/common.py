"""Helpers shared by the service modules."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from pipelines.engine import dag
from pipelines.models import Job


def audit_user() -> str:
    return str(settings.HKUBE_AUDIT_USER)


def cluster() -> str:
    return str(settings.HKUBE_CLUSTER_NAME)


def _strip_server_fields(descriptor: dict[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in descriptor.items() if k not in ("modified", "created", "auditTrail", "version")}
    return clean


_graphs: dict[str, dag.Graph] = {}


def job_graph(job: Job) -> dag.Graph:
    """A job's graph, built once per process: the executed pipeline never changes."""
    graph = _graphs.get(job.job_id)
    if graph is None:
        if len(_graphs) > 512:
            _graphs.clear()
        graph = _graphs[job.job_id] = dag.build_graph(job.pipeline)
    return graph
