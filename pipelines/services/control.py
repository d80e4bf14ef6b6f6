"""Controlling jobs after submission: pause, resume, rerun, run-from-node (`exec/caching`)
and single-algorithm runs (hkube-api §3.1.3-3.1.7).

Every state change is a compare-and-swap under the job's row lock, like the driver's own
changes; new jobs go through `submit_job`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from typing import Any

from celery.result import AsyncResult
from django.db import transaction

from hkube_site.celery import app
from hkube_site.errors import InvalidData, NotFound
from pipelines import events, schema
from pipelines.engine import dag
from pipelines.engine.references import Reference, iter_leaves, parse_reference
from pipelines.models import RUNNING_JOB_STATUSES, Job, JobNode, JobStatus, NodeStatus, Task, now_ms
from pipelines.services.common import audit_user
from pipelines.services.driver import _dispatch_ready, node_failed_unexpectedly, node_finished
from pipelines.services.submit import enqueue_start, submit_job

log = logging.getLogger(__name__)

# An executed pipeline's fields that belong to one run, not to the descriptor run again.
RUN_FIELDS = ("jobId", "startTime", "lastRunResult", "types", "maxExceeded", "activeTime", "queueTimeSeconds")


def _merge_types(*groups: Iterable[str]) -> list[str]:
    """HKube's `_mergeTypes`: concatenated, first occurrence kept."""
    return list(dict.fromkeys(t for group in groups for t in group))


def _refused(action: str, job: Job) -> InvalidData:
    return InvalidData(f"unable to {action} pipeline {job.pipeline_name} because its in {job.status} status")


def _audit(action: str, stamp: int) -> dict[str, Any]:
    return {"timestamp": stamp, "user": audit_user(), "action": action}


# --- new runs ------------------------------------------------------------------------------


def run_algorithm(body: dict[str, Any]) -> Job:
    """`exec/algorithm`: a one-node pipeline named after the algorithm."""
    body = schema.validate_exec_algorithm(body)
    name = body["name"]
    node = {
        "nodeName": name,
        "algorithmName": name,
        "input": body.get("input") or [],
        "kind": "debug" if body.get("debug") else "algorithm",
    }
    return submit_job({"name": name, "nodes": [node]}, types=["algorithm"])


def rerun_job(body: dict[str, Any]) -> Job:
    """`exec/rerun`: the job's user pipeline again, its stored flowInput reused (no upload:
    the user pipeline carries `flowInputMetadata`, which `submit_job` takes as it is)."""
    job_id = schema.validate_rerun(body)["jobId"]
    old = Job.objects.filter(job_id=job_id).first()
    if old is None:
        raise NotFound("jobId", job_id)
    types = _merge_types(old.types or [], ["rerun"])
    return submit_job(copy.deepcopy(old.user_pipeline), types=types, validate_nodes=False, internal=True)


def run_from_node(body: dict[str, Any]) -> Job:
    """`exec/caching`: run `nodeName` and all its descendants again, the other parents cached.

    The new pipeline holds only the cut (the node and its descendants, as the old job
    executed them). Every node the cut references but does not contain is put in the
    pipeline's `cachedOutputs` with the output the old job recorded for it, so the engine
    plans the cut's nodes from the old job's storage paths (nothing is copied). Unlike HKube,
    which presets the old outputs on every node of the cut, a re-run node's children read its
    new output. A parent the old job never finished has no output and reads as null, as in
    HKube.
    """
    body = schema.validate_caching(body)
    job_id, node_name = body["jobId"], body["nodeName"]
    old = Job.objects.filter(job_id=job_id).first()
    if old is None:
        raise InvalidData(f"unable to find pipeline {job_id}")
    executed: dict[str, Any] = copy.deepcopy(old.pipeline)
    if executed.get("kind") == "stream":
        raise InvalidData("run node is not allowed in stream pipeline")
    nodes: list[dict[str, Any]] = executed.get("nodes") or []
    for node in nodes:
        if any(ref.sign == "*@" for ref in _references(node)):
            raise InvalidData(f"relation waitAny for node {node.get('nodeName')} is not allowed")
    try:
        graph = dag.build_graph(executed)
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc
    if node_name not in graph.nodes:
        raise InvalidData(f"cant find relations for {node_name}")

    cut = _descendants(graph, node_name)
    root_job_id = old.root_job_id or old.job_id
    kept = []
    for node in nodes:
        if node.get("nodeName") in cut:
            if node.get("nodeName") == node_name:
                node["cacheJobId"] = root_job_id
            kept.append(node)
    outside = [
        ref.obj for node in kept for ref in _references(node) if ref.kind == "node" and ref.obj not in cut
    ]
    descriptor = {k: v for k, v in executed.items() if k not in RUN_FIELDS}
    descriptor.update(
        name=f"{executed.get('name')}-{node_name}",
        nodes=kept,
        cachedOutputs=_old_outputs(old, list(dict.fromkeys(outside))),
    )
    if body.get("debug"):
        options = descriptor.setdefault("options", {})
        options["debugOverride"] = list(dict.fromkeys([*(options.get("debugOverride") or []), node_name]))
    types = _merge_types(old.types or [], ["node"])
    return submit_job(descriptor, types=types, validate_nodes=False, root_job_id=root_job_id, internal=True)


def _references(node: dict[str, Any]) -> list[Reference]:
    found = []
    for _, leaf in iter_leaves(node.get("input") or []):
        reference = parse_reference(leaf)
        if reference is not None:
            found.append(reference)
    return found


def _descendants(graph: dag.Graph, start: str) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for child in graph.children(stack.pop()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _old_outputs(old: Job, names: list[str]) -> dict[str, Any]:
    """What `names` gave the old job: its node rows, else what it had cached itself (a cut
    of a cut), else a marker the planner reads as "no output" (null, or zero items)."""
    rows = dict(JobNode.objects.filter(job=old, node_name__in=names).values_list("node_name", "output"))
    inherited = old.pipeline.get("cachedOutputs") or {}
    return {name: rows.get(name) or inherited.get(name) or {"kind": "missing"} for name in names}


# --- pause and resume ----------------------------------------------------------------------


def pause_job(job_id: str) -> None:
    """`exec/pause`: the driver stops dispatching; tasks already queued or running go on and
    record their results (the driver acts only on active jobs, so their `node_finished`
    messages are dropped while paused, and `resume_job` makes up for them)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None:
            raise NotFound("jobId", job_id)
        if job.result is not None:
            raise _refused("pause", job)
        stamp = now_ms()
        changed = Job.objects.filter(job_id=job_id, status__in=RUNNING_JOB_STATUSES).update(
            status=JobStatus.PAUSED,
            level="info",
            status_timestamp=stamp,
            audit_trail=[_audit("pause", stamp), *job.audit_trail],
        )
        if not changed:
            raise _refused("pause", job)
        events.status_changed(job, JobStatus.PAUSED)


def resume_job(job_id: str) -> None:
    """`exec/resume`: `paused` → `resumed` → `active`, then continue where the job stopped.

    While the job was paused the driver ignored every `node_finished` (and
    `node_failed_unexpectedly`) message, because both act only on an active job, so nodes
    whose tasks all ended during the pause are still `active` with nobody left to finish
    them. Resuming therefore:

    1. under the job's row lock, swaps `paused` → `resumed` → `active` and dispatches any
       node whose parents are all final (none is expected: a node becomes ready only in the
       same transaction that finishes its last parent; this is a safety net);
    2. after commit, looks at every node still `active` and finishes the ones whose tasks
       all ended (`_settle_node`).

    Races: the status is `active` before step 2 reads anything, so a callback either came
    before the swap (it was dropped, and the task rows it reported were committed before the
    callback was even sent, so step 2 sees them) or comes after it (it is handled normally).
    Both paths may then finish the same node; `node_finished` takes the job lock and acts
    only on an `active` node, so the second call does nothing. Nothing that ended is run
    again: only `creating` nodes are ever dispatched.

    A job paused before the driver started it (still without nodes) goes back to `pending`
    and is queued again, unless it is held for a concurrency slot (`maxExceeded`), which
    `holding.release_held_jobs` gives it as before; a start message still in the queue
    is then harmless (`start_job` swaps from `pending` only once).
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None:
            raise NotFound("jobId", job_id)
        if job.status != JobStatus.PAUSED:
            raise _refused("resume", job)
        stamp = now_ms()
        Job.objects.filter(job_id=job_id, status=JobStatus.PAUSED).update(
            status=JobStatus.RESUMED,
            level="info",
            status_timestamp=stamp,
            audit_trail=[_audit("resume", stamp), *job.audit_trail],
        )
        events.status_changed(job, JobStatus.RESUMED)
        if job.active_time is None:
            Job.objects.filter(job_id=job_id, status=JobStatus.RESUMED).update(status=JobStatus.PENDING)
            if not job.max_exceeded:  # a held job waits for its concurrency slot as before
                priority = job.priority
                transaction.on_commit(lambda: enqueue_start(job_id, priority))
            return
        Job.objects.filter(job_id=job_id, status=JobStatus.RESUMED).update(status=JobStatus.ACTIVE)
        events.status_changed(job, JobStatus.ACTIVE)
        job.refresh_from_db()
        _dispatch_ready(job, dag.build_graph(job.pipeline))
    for node in JobNode.objects.filter(job_id=job_id, status=NodeStatus.ACTIVE):
        _settle_node(node)


def _settle_node(node: JobNode) -> None:
    """Finish an active node whose tasks all ended; leave one that is still running."""
    recorded = Task.objects.filter(job_id=node.job_id, node_name=node.node_name).count()
    if recorded >= node.total:
        node_finished(node.job_id, node.node_name)
        return
    # Some items have no row: either still running (their callback will come) or their
    # messages failed outside the algorithm, which is what the chord's error callback,
    # dropped while paused, would have reported.
    states = _message_states(node.celery_ids or [])
    if not states or "PENDING" in states or "STARTED" in states or "RETRY" in states:
        return
    if "FAILURE" in states:
        node_failed_unexpectedly(node.job_id, node.node_name, "a task message failed while paused")
    else:
        node_finished(node.job_id, node.node_name)


def _message_states(celery_ids: list[str]) -> set[str]:
    try:
        return {AsyncResult(task_id, app=app).state for task_id in celery_ids}
    except Exception as exc:  # noqa: BLE001 - the resume is committed; the node's own callback may still come
        log.warning("resume: could not read task states %s: %s", celery_ids, exc)
        return set()
