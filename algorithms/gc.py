"""Garbage collection by age, as HKube's gc-service serves it (`gc/clean|dryrun|status`).

It lives here, in the top app, because its cleaners belong to two apps that do not import
each other: `jobs` and `storage` (pipelines' services) and `builds` (builds' uploads).
`maxAge` is in minutes, as in HKube; each cleaner has HKube's default for the data it
stands for (results 10 days, temporary data 5 days, build uploads 1 day)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from builds.cleaning import clean_build_uploads
from hkube_site import redis_client as rc
from hkube_site.errors import NotFound
from pipelines import services

SAMPLE_SIZE = 10
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Cleaner:
    name: str
    max_age_minutes: float
    clean: Callable[..., list[str]]
    removes: str


CLEANERS = {
    cleaner.name: cleaner
    for cleaner in (
        Cleaner("jobs", 14400, services.clean_jobs, "jobs that ended: rows, results, outputs and logs"),
        Cleaner(
            "storage", 7200, services.clean_job_storage, "task outputs and flowInputs of jobs that ended"
        ),
        Cleaner("builds", 1440, clean_build_uploads, "code archives of builds that ended"),
    )
}


def _cleaners(name: str | None) -> list[Cleaner]:
    if name is None:
        return list(CLEANERS.values())
    cleaner = CLEANERS.get(name)
    if cleaner is None:
        raise NotFound("cleaner", name)
    return [cleaner]


def run(name: str | None, max_age_minutes: float | None, *, dry_run: bool) -> list[dict[str, Any]]:
    """Run one cleaner (or all); `[{name, count, sample}]` as HKube answers."""
    now = int(time.time() * 1000)
    results = []
    for cleaner in _cleaners(name):
        age = cleaner.max_age_minutes if max_age_minutes is None else max_age_minutes
        cleaned = cleaner.clean(now - int(age * MINUTE_MS), dry_run=dry_run)
        result = {"name": cleaner.name, "count": len(cleaned), "sample": cleaned[:SAMPLE_SIZE]}
        if not dry_run:
            record = {**result, "maxAge": age, "timestamp": now}
            rc.client().hset(rc.GC_LAST_RUN_KEY, cleaner.name, json.dumps(record))
        results.append(result)
    return results


def status(name: str | None) -> list[dict[str, Any]]:
    """Each cleaner: what it removes, its default maxAge, and its last (not dry) run."""
    runs = rc.client().hgetall(rc.GC_LAST_RUN_KEY)
    answer = []
    for cleaner in _cleaners(name):
        last = runs.get(cleaner.name.encode())
        answer.append(
            {
                "name": cleaner.name,
                "removes": cleaner.removes,
                "maxAge": cleaner.max_age_minutes,
                "lastRun": json.loads(last) if last else None,
            }
        )
    return answer
