"""Experiments (`/experiment`): namespaces for jobs, `main` always there.

Deleting an experiment does what HKube's does: the crons of its stored pipelines stop and
its jobs' history goes. Jobs still running are stopped first and keep their rows: their
workers may still be writing task rows, so removing them now would race those writes.
"""

from __future__ import annotations

import copy
from typing import Any

from django.db import transaction

from hkube_site.errors import ActionNotAllowed, NotFound
from hkube_site.validation import validate
from pipelines import schema, stored_triggers
from pipelines.models import FINAL_JOB_STATUSES, RUNNING_JOB_STATUSES, Experiment, Job, WebhookDelivery
from pipelines.services.cleaning import remove_job_data
from pipelines.services.ending import stop_job
from pipelines.services.stored import update_pipeline

DEFAULT_EXPERIMENT = "main"
STOP_REASON = "experiment has been deleted"

_NAME = {k: v for k, v in schema.EXPERIMENT_NAME.items() if k != "default"}
CREATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": _NAME, "description": {"type": "string"}},
    "required": ["name"],
}
NAME_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"name": _NAME}, "required": ["name"]}


def _main() -> Experiment:
    return Experiment.objects.get_or_create(name=DEFAULT_EXPERIMENT)[0]


def list_experiments() -> list[Experiment]:
    _main()
    return list(Experiment.objects.all())


def get_experiment(name: str) -> Experiment:
    validate(NAME_SCHEMA, {"name": name}, use_defaults=False)
    if name == DEFAULT_EXPERIMENT:
        return _main()
    found = Experiment.objects.filter(name=name).first()
    if found is None:
        raise NotFound("experiment", name)
    return found


def check_experiment_exists(name: str) -> None:
    """Submitting into an unknown experiment is refused (`experiment X Not Found`, 404)."""
    if name != DEFAULT_EXPERIMENT and not Experiment.objects.filter(name=name).exists():
        raise NotFound("experiment", name)


def create_experiment(body: dict[str, Any]) -> Experiment:
    """HKube's insert is an upsert: posting an existing name updates its description."""
    body = validate(CREATE_SCHEMA, body, use_defaults=False)
    experiment, _ = Experiment.objects.update_or_create(
        name=body["name"], defaults={"description": body.get("description", "")}
    )
    return experiment


def delete_experiment(name: str) -> None:
    experiment = get_experiment(name)
    if name == DEFAULT_EXPERIMENT:
        raise ActionNotAllowed("main experiment cannot be deleted")
    _stop_crons(name)
    # Read before stopping: a job stopped now keeps its row (its workers may still write).
    finished = list(
        Job.objects.filter(experiment=name, status__in=FINAL_JOB_STATUSES).values_list("job_id", flat=True)
    )
    running = Job.objects.filter(experiment=name, status__in=RUNNING_JOB_STATUSES)
    for job_id in list(running.values_list("job_id", flat=True)):
        stop_job(job_id, STOP_REASON)
    with transaction.atomic():
        WebhookDelivery.objects.filter(job_id__in=finished).delete()
        Job.objects.filter(job_id__in=finished).delete()  # nodes and tasks go with them
        experiment.delete()
    transaction.on_commit(lambda: remove_job_data(finished))


def _stop_crons(experiment: str) -> None:
    for pipeline in stored_triggers.with_trigger("cron"):
        descriptor = copy.deepcopy(pipeline.descriptor)
        cron = stored_triggers.cron_of(descriptor)
        if descriptor.get("experimentName", DEFAULT_EXPERIMENT) != experiment or not cron:
            continue
        if cron.get("enabled", True):
            descriptor["triggers"]["cron"] = {**cron, "enabled": False}
            update_pipeline(descriptor)


__all__ = [
    "DEFAULT_EXPERIMENT",
    "check_experiment_exists",
    "create_experiment",
    "delete_experiment",
    "get_experiment",
    "list_experiments",
]
