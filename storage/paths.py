"""HKube's storage key layout (storage-manager 2.x)."""

from __future__ import annotations

import datetime as dt


def bucket(cluster: str, kind: str = "") -> str:
    return f"{cluster}-hkube" + (f"-{kind}" if kind else "")


def task_output(cluster: str, job_id: str, task_id: str) -> str:
    return f"{bucket(cluster)}/{job_id}/{task_id}"


def flow_input(cluster: str, job_id: str) -> str:
    return f"{bucket(cluster)}/{job_id}/{job_id}"


def job_result(cluster: str, job_id: str) -> str:
    return f"{bucket(cluster, 'results')}/{job_id}/result.json"


def day_index(cluster: str, job_id: str, day: dt.date | None = None) -> str:
    day = day or dt.datetime.now(dt.UTC).date()
    return f"{bucket(cluster, 'index')}/{day.isoformat()}/{job_id}"


def build_upload(cluster: str, build_id: str) -> str:
    return f"{bucket(cluster, 'builds')}/{build_id}"
