"""Stored pipelines and running jobs that use an algorithm, and their removal with it.

`algorithms.services.delete_algorithm` asks this module to handle its pipelines and jobs,
so the rows of this app are written here only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hkube_site.errors import ActionNotAllowed
from pipelines.models import RUNNING_JOB_STATUSES, Job, Pipeline
from pipelines.services.ending import stop_job


@dataclass(frozen=True)
class RemovedUsage:
    """What deleting an algorithm removed here: stored pipelines deleted, jobs stopped."""

    pipelines: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)


def running_jobs_using(algorithm_name: str) -> list[str]:
    """The jobIds of running jobs with a node of this algorithm."""
    jobs = Job.objects.filter(status__in=RUNNING_JOB_STATUSES).values_list("job_id", "pipeline")
    return [
        job_id
        for job_id, pipeline in jobs
        if any(n.get("algorithmName") == algorithm_name for n in (pipeline or {}).get("nodes", []))
    ]


def pipelines_using(algorithm_name: str) -> list[str]:
    """The names of stored pipelines with a node of this algorithm."""
    return [
        p.name
        for p in Pipeline.objects.all()
        if any(n.get("algorithmName") == algorithm_name for n in p.descriptor.get("nodes", []))
    ]


def remove_algorithm_pipelines(algorithm_name: str, *, force: bool) -> RemovedUsage:
    """The algorithm is being deleted: stop its running jobs and delete its stored pipelines.

    Without `force`, any use refuses the deletion with HKube's message and changes nothing.
    Call it inside the transaction that deletes the algorithm, so the pipelines go with it.
    """
    pipelines = pipelines_using(algorithm_name)
    jobs = running_jobs_using(algorithm_name)
    if (pipelines or jobs) and not force:
        details = (
            f"{len(pipelines)} pipelines ({', '.join(pipelines)}), {len(jobs)} executions ({', '.join(jobs)})"
        )
        raise ActionNotAllowed(
            f"algorithm {algorithm_name} is stored in {details}. "
            "you must first delete all related data or use the force flag",
            details=details,
        )
    for job_id in jobs:
        stop_job(job_id, f"algorithm {algorithm_name} has been deleted")
    Pipeline.objects.filter(name__in=pipelines).delete()
    return RemovedUsage(pipelines=pipelines, jobs=jobs)
