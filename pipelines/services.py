"""Every state change of stored pipelines and jobs goes through this module.

Status changes are compare-and-swap (`filter(status__in=old).update(...)`), and act only
when a row changed, so a redelivered Celery message does nothing twice. Messages are
published after commit (`transaction.on_commit`).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections import Counter
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from hkube_site import redis_client as rc
from hkube_site.errors import AlreadyExists, InvalidData, Missing, NotFound
from pipelines import events, scheduling, schema
from pipelines.engine import dag, ids, planning
from pipelines.engine import results as engine_results
from pipelines.graph import unrecorded_states
from pipelines.models import (
    FINAL_JOB_STATUSES,
    FINAL_NODE_STATUSES,
    Job,
    JobNode,
    JobStatus,
    NodeStatus,
    Pipeline,
    Task,
    TaskStatus,
    now_ms,
)
from storage import get_storage, paths

log = logging.getLogger(__name__)

RUNNING_STATUSES = (JobStatus.PENDING, JobStatus.ACTIVE, JobStatus.PAUSED, JobStatus.RESUMED)


def audit_user() -> str:
    return str(settings.HKUBE_AUDIT_USER)


def cluster() -> str:
    return str(settings.HKUBE_CLUSTER_NAME)


# --- stored pipelines ----------------------------------------------------------------------


def _check_algorithms_exist(descriptor: dict[str, Any]) -> None:
    from algorithms.models import Algorithm

    wanted = [
        n["algorithmName"]
        for n in descriptor.get("nodes", [])
        if n.get("kind", "algorithm") in ("algorithm", "debug") and n.get("algorithmName")
    ]
    known = set(Algorithm.objects.filter(name__in=wanted).values_list("name", flat=True))
    for name in wanted:
        if name not in known:
            raise NotFound("algorithm", name)


def _validate_stored(descriptor: dict[str, Any]) -> dict[str, Any]:
    descriptor = schema.validate_pipeline(descriptor, use_defaults=True)
    try:
        dag.build_graph(descriptor, check_flow_input=False)
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc
    _check_algorithms_exist(descriptor)
    from pipelines import triggers  # late: triggers builds on this module

    triggers.check_trigger_cycles(descriptor)
    return descriptor


def _sync_cron_after_commit(name: str) -> None:
    """Mirror the stored pipeline's cron trigger into beat (the reconcile loop would too)."""
    from pipelines import triggers

    transaction.on_commit(lambda: triggers.sync_cron(name))


def _strip_server_fields(descriptor: dict[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in descriptor.items() if k not in ("modified", "created", "auditTrail", "version")}
    return clean


def store_pipeline(descriptor: dict[str, Any]) -> Pipeline:
    descriptor = _validate_stored(_strip_server_fields(descriptor))
    name = descriptor["name"]
    if Pipeline.objects.filter(name=name).exists():
        raise AlreadyExists("pipeline", name)
    version = ids.version_id()
    stamp = now_ms()
    pipeline = Pipeline.objects.create(
        name=name,
        descriptor=descriptor,
        version=version,
        created=stamp,
        modified=stamp,
        audit_trail=[{"user": audit_user(), "timestamp": stamp, "version": version}],
    )
    _sync_cron_after_commit(name)
    return pipeline


def update_pipeline(descriptor: dict[str, Any]) -> Pipeline:
    descriptor = _validate_stored(_strip_server_fields(descriptor))
    name = descriptor["name"]
    with transaction.atomic():
        pipeline = Pipeline.objects.select_for_update().filter(name=name).first()
        if pipeline is None:
            raise NotFound("pipeline", name)
        if pipeline.descriptor != descriptor:
            stamp = now_ms()
            pipeline.version = ids.version_id()
            pipeline.descriptor = descriptor
            pipeline.modified = stamp
            entry = {"user": audit_user(), "timestamp": stamp, "version": pipeline.version}
            pipeline.audit_trail = [entry, *pipeline.audit_trail]
            pipeline.save()
            _sync_cron_after_commit(name)
    return pipeline


def delete_pipeline(name: str) -> str:
    pipeline = Pipeline.objects.filter(name=name).first()
    if pipeline is None:
        raise NotFound("pipeline", name)
    # Only jobs run from the stored pipeline; `types` is filtered in Python because JSON
    # containment lookups are not available on SQLite.
    candidates = Job.objects.filter(pipeline_name=name, status__in=RUNNING_STATUSES)
    running = [j for j in candidates if "stored" in (j.types or [])]
    stopped = sum(1 for job in running if stop_job(job.job_id, "pipeline has been deleted"))
    pipeline.delete()
    _sync_cron_after_commit(name)
    message = f"pipeline {name} successfully deleted from store"
    if running:
        message += f", stopped related running pipelines {stopped}/{len(running)}"
    return message


# --- submitting jobs -------------------------------------------------------------------------


def merge_stored(stored: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """HKube's exec/stored merge: objects merge deeply, arrays merge by index, and a
    given flowInput replaces the stored one."""

    def merge(base: Any, extra: Any) -> Any:
        if isinstance(base, dict) and isinstance(extra, dict):
            out = dict(base)
            for key, value in extra.items():
                out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
            return out
        if isinstance(base, list) and isinstance(extra, list):
            out_list = list(base)
            for i, value in enumerate(extra):
                if i < len(out_list):
                    out_list[i] = merge(out_list[i], value)
                else:
                    out_list.append(copy.deepcopy(value))
            return out_list
        return copy.deepcopy(extra)

    flow_input = overrides.get("flowInput")
    rest = {k: v for k, v in overrides.items() if k != "flowInput"}
    merged: dict[str, Any] = merge(_strip_server_fields(stored), rest)
    if "flowInput" in overrides:
        merged["flowInput"] = copy.deepcopy(flow_input)
    return merged


def submit_job(
    descriptor: dict[str, Any],
    *,
    types: list[str],
    validate_nodes: bool = True,
    parent_job_id: str | None = None,
    root_job_id: str | None = None,
    internal: bool = False,
) -> Job:
    """Validate a pipeline, store its flowInput, create the job, and start it after commit.

    `internal` callers (rerun, run-from-node) may carry `cachedOutputs`, the old job's
    outputs of parents outside the re-run part; from users that key is dropped."""
    if not internal:
        descriptor = {k: v for k, v in descriptor.items() if k != "cachedOutputs"}
    user_pipeline = copy.deepcopy(descriptor)
    descriptor = schema.validate_pipeline(_strip_server_fields(copy.deepcopy(descriptor)), use_defaults=True)
    if not descriptor.get("nodes"):
        raise InvalidData("pipeline must have at least one node")
    try:
        dag.build_graph(descriptor, check_flow_input=False)
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc
    _check_algorithms_exist(descriptor)
    _check_concurrency(descriptor)
    held = scheduling.is_held(descriptor, descriptor["name"], descriptor.get("experimentName", "main"))

    job_id = ids.job_id()
    flow_input = descriptor.pop("flowInput", None)
    metadata: dict[str, Any] | None = descriptor.pop("flowInputMetadata", None)
    if metadata is None:
        metadata = {"metadata": {}}
        if flow_input is not None:
            flow_path = paths.flow_input(cluster(), job_id)
            get_storage().put(flow_path, flow_input)
            wanted = dag.flow_input_paths(descriptor)
            metadata = {
                "metadata": dag.flow_input_metadata(flow_input, wanted),
                "storageInfo": {"path": flow_path},
            }
    try:
        dag.build_graph(descriptor, flow_input_metadata=metadata, check_flow_input=validate_nodes)
    except dag.DescriptorError as exc:
        raise InvalidData(exc.message) from exc

    stamp = now_ms()
    executed = {
        **descriptor,
        "flowInput": None,
        "flowInputMetadata": metadata,
        "startTime": stamp,
        "types": types,
        "lastRunResult": _last_run_result(descriptor),
        "maxExceeded": held,
    }
    with transaction.atomic():
        job = Job.objects.create(
            job_id=job_id,
            pipeline_name=descriptor["name"],
            experiment=descriptor.get("experimentName", "main"),
            priority=descriptor.get("priority", 3),
            pipeline=executed,
            user_pipeline={**user_pipeline, "flowInput": None, "flowInputMetadata": metadata},
            types=types,
            tags=descriptor.get("tags") or [],
            external_id=descriptor.get("externalId"),
            parent_job_id=parent_job_id,
            root_job_id=root_job_id,
            start_time=stamp,
            status_timestamp=stamp,
            audit_trail=[{"timestamp": stamp, "user": audit_user(), "action": "run"}],
            max_exceeded=held,
        )
        if not held:  # a held job starts when a slot frees (scheduling.release_held_jobs)
            transaction.on_commit(lambda: enqueue_start(job_id, job.priority))
        events.status_changed(job, JobStatus.PENDING)
    return job


def enqueue_start(job_id: str, priority: int) -> None:
    from pipelines.tasks import start_job as start_job_task

    start_job_task.apply_async((job_id,), priority=priority)


def _check_concurrency(descriptor: dict[str, Any]) -> None:
    limit = (descriptor.get("options") or {}).get("concurrentPipelines")
    if not limit:
        return
    running = Job.objects.filter(
        pipeline_name=descriptor["name"],
        experiment=descriptor.get("experimentName", "main"),
        status__in=RUNNING_STATUSES,
    ).count()
    if running >= limit["amount"] and limit.get("rejectOnFailure", True):
        raise InvalidData(f"maximum number [{limit['amount']}] of concurrent pipelines has been reached")


def _last_run_result(descriptor: dict[str, Any]) -> dict[str, Any] | None:
    last = (
        Job.objects.filter(
            pipeline_name=descriptor["name"],
            experiment=descriptor.get("experimentName", "main"),
            status__in=FINAL_JOB_STATUSES,
        )
        .order_by("-start_time")
        .values("status", "end_time", "start_time")
        .first()
    )
    if not last or last["end_time"] is None:
        return None
    return {
        "timestamp": last["end_time"],
        "status": last["status"],
        "timeTook": round((last["end_time"] - last["start_time"]) / 1000, 3),
    }


def load_flow_input(job: Job) -> Any:
    storage_info = ((job.pipeline or {}).get("flowInputMetadata") or {}).get("storageInfo")
    if not storage_info:
        return None
    return get_storage().get(storage_info["path"])


# --- driving a job ---------------------------------------------------------------------------


def start_job(job_id: str) -> None:
    """Mark the job active, create its nodes and dispatch the entry nodes."""
    with transaction.atomic():
        stamp = now_ms()
        changed = Job.objects.filter(job_id=job_id, status=JobStatus.PENDING).update(
            status=JobStatus.ACTIVE, active_time=stamp, status_timestamp=stamp
        )
        if not changed:
            return  # redelivered, stopped while queued, or unknown
        job = Job.objects.select_for_update().get(job_id=job_id)
        events.status_changed(job, JobStatus.ACTIVE)
        graph = job_graph(job)
        levels = graph.levels()
        versions = _current_versions({n.get("algorithmName", "") for n in graph.nodes.values()})
        JobNode.objects.bulk_create(
            [
                JobNode(
                    job=job,
                    node_name=name,
                    algorithm_name=node.get("algorithmName", ""),
                    algorithm_version=versions.get(node.get("algorithmName", ""), ""),
                    position=position,
                    level=levels.get(name, 0),
                )
                for position, (name, node) in enumerate(graph.nodes.items())
            ],
            ignore_conflicts=True,
        )
        _dispatch_ready(job, graph)


_graphs: dict[str, dag.Graph] = {}


def job_graph(job: Job) -> dag.Graph:
    """A job's graph, built once per process: the executed pipeline never changes."""
    graph = _graphs.get(job.job_id)
    if graph is None:
        if len(_graphs) > 512:
            _graphs.clear()
        graph = _graphs[job.job_id] = dag.build_graph(job.pipeline)
    return graph


def _current_versions(names: set[str]) -> dict[str, str]:
    from algorithms.models import Algorithm

    return dict(Algorithm.objects.filter(name__in=names).values_list("name", "version"))


def _node_output(node: JobNode) -> dict[str, Any]:
    return node.output or {"kind": "skipped"}


def any_parents(graph: dag.Graph, name: str) -> list[str]:
    """Parents related to `name` only by wait-any (`*@P`): P's items drive `name`'s items."""
    return [p for p in graph.parents(name) if set(graph.edge_types(p, name)) - {"input"} == {"waitAny"}]


def _streaming_parents(graph: dag.Graph, node: JobNode, nodes: dict[str, JobNode]) -> list[str] | None:
    """The `*@` batch parents a node may stream from now, or None if it must wait.

    HKube's rule: item i of the node may start once item i of every `*@` parent ended and
    every other parent is final. So the node starts streaming as soon as its other parents
    are final and its `*@` parents are dispatched batches."""
    streaming = [p for p in any_parents(graph, node.node_name) if nodes[p].is_batch]
    if not streaming:
        return None
    for parent in graph.parents(node.node_name):
        status = nodes[parent].status
        if parent in streaming:
            if status == NodeStatus.CREATING or status not in (NodeStatus.ACTIVE, *FINAL_NODE_STATUSES):
                return None
        elif status not in FINAL_NODE_STATUSES:
            return None
    return streaming


def _dispatch_ready(job: Job, graph: dag.Graph) -> None:
    """Dispatch every node whose parents are all final, and start streaming the nodes
    whose `*@` parents are running. Runs inside the job's lock."""
    nodes = {n.node_name: n for n in JobNode.objects.filter(job=job)}
    while True:
        ready = []
        for n in nodes.values():
            if n.status != NodeStatus.CREATING:
                continue
            if all(
                nodes[p].status in FINAL_NODE_STATUSES for p in graph.parents(n.node_name)
            ) or _streaming_parents(graph, n, nodes):
                ready.append(n)
        if not ready:
            break
        skipped_any = False
        for node in ready:
            skipped = _dispatch_node(job, graph, node, nodes)
            skipped_any = skipped_any or skipped
            node.status = NodeStatus.SKIPPED if skipped else NodeStatus.ACTIVE
            if skipped:
                node.output = {"kind": "skipped"}
        if not skipped_any:
            break
    if all(n.status in FINAL_NODE_STATUSES for n in nodes.values()):
        _finish_job(job, graph)


def _flow_input_ref(job: Job) -> dict[str, Any] | None:
    metadata = job.pipeline.get("flowInputMetadata") or {}
    if not metadata.get("storageInfo"):
        return None
    return {"storageInfo": metadata["storageInfo"], "metadata": metadata.get("metadata", {})}


def _dispatch_node(job: Job, graph: dag.Graph, node: JobNode, nodes: dict[str, JobNode]) -> bool:
    """Send a node's tasks. Returns True when the node was skipped instead (0 items)."""
    descriptor = graph.nodes[node.node_name]
    outputs = {p: _node_output(nodes[p]) for p in graph.parents(node.node_name)}
    # Parents outside a run-from-node cut: the old job's outputs (its storage paths, nothing copied).
    for name, output in (job.pipeline.get("cachedOutputs") or {}).items():
        outputs.setdefault(name, output)
    streaming = [p for p in graph.parents(node.node_name) if nodes[p].status == NodeStatus.ACTIVE]
    for parent in streaming:
        # A running `*@` batch parent: its items are named by batchIndex; which of them
        # failed is sent with each child item instead (see _dispatch_any_items).
        outputs[parent] = {"kind": "batch", "status": "active", "jobId": job.job_id, "nodeName": parent,
                           "count": nodes[parent].total, "failed": []}  # fmt: skip
    plan = planning.plan_node(descriptor, outputs=outputs, flow_input=_flow_input_ref(job), cluster=cluster())
    stamp = now_ms()
    # A wait-any node (`*@B`) has one item per item of B, numbered like B's items.
    many = plan["batch"] or bool(plan["waitAny"])
    if many and plan["count"] == 0:
        JobNode.objects.filter(pk=node.pk, status=NodeStatus.CREATING).update(
            status=NodeStatus.SKIPPED, is_batch=True, total=0, output={"kind": "skipped"},
            start_time=stamp, end_time=stamp,
        )  # fmt: skip
        return True
    total = plan["count"] if many else 1
    spec = _task_spec(job, graph, node, descriptor, plan)
    changed = JobNode.objects.filter(pk=node.pk, status=NodeStatus.CREATING).update(
        status=NodeStatus.ACTIVE, is_batch=many, total=total, spec=spec, start_time=stamp
    )
    if changed and streaming:
        node.spec, node.total = spec, total
        _dispatch_any_items(job, graph, node, nodes, None)
    elif changed:
        transaction.on_commit(lambda: _send_tasks(job.job_id, node.pk, spec, total, many))
    return False


def _dispatch_any_items(
    job: Job, graph: dag.Graph, node: JobNode, nodes: dict[str, JobNode], candidates: list[int] | None
) -> None:
    """Send the items of a streaming `*@` node whose parent items have all ended.

    Each item is sent exactly once: a Redis set per node remembers what was sent, since
    parents' items end in any order and a redelivered notification may repeat one."""
    parents = any_parents(graph, node.node_name)
    wanted = candidates if candidates is not None else list(range(1, node.total + 1))
    wanted = [i for i in wanted if 1 <= i <= node.total]
    if not wanted:
        return
    ended: dict[str, dict[int, str]] = {}
    for parent in parents:
        rows = Task.objects.filter(job=job, node_name=parent, batch_index__in=wanted).exclude(
            status__in=(TaskStatus.PENDING, TaskStatus.ACTIVE, TaskStatus.STORING)
        )
        ended[parent] = dict(rows.values_list("batch_index", "status"))
    ready: dict[int, list[str]] = {}
    for index in wanted:
        missing = []
        for parent in parents:
            parent_node = nodes[parent]
            if index > parent_node.total:
                missing.append(parent)  # a shorter parent has no item i: null
            elif index in ended[parent]:
                if ended[parent][index] != TaskStatus.SUCCEED:
                    missing.append(parent)
            elif parent_node.status == NodeStatus.SKIPPED:
                missing.append(parent)
            else:
                break  # this parent's item i has not ended yet
        else:
            ready[index] = missing
    fresh = rc.claim_items(job.job_id, node.node_name, list(ready))
    if not fresh:
        return
    spec = {**(node.spec or {}), "missing": {str(i): ready[i] for i in fresh if ready[i]}}
    job_id = job.job_id
    transaction.on_commit(lambda: _send_items(job_id, spec, [i - 1 for i in fresh]))


def _send_items(job_id: str, spec: dict[str, Any], indices: list[int]) -> None:
    """Streamed items: small messages, each finishing the node if it was the last one."""
    from algorithms.tasks import poke_executor, run_items
    from hkube_site.queues import algorithm_queue

    queue = algorithm_queue(spec["algorithmName"])
    for start in range(0, len(indices), 50):
        run_items.si({**spec, "inlineFinish": True}, indices[start : start + 50]).apply_async(
            queue=queue, priority=int(spec["priority"]), ignore_result=True
        )
    poke_executor(spec["algorithmName"])


def items_ended(job_id: str, node_name: str, batch_indices: list[int]) -> None:
    """Items of a batch node ended: send the matching items of its streaming children."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None or job.status != JobStatus.ACTIVE:
            return
        graph = job_graph(job)
        nodes = {n.node_name: n for n in JobNode.objects.filter(job=job)}
        for child in graph.children(node_name):
            if node_name not in any_parents(graph, child):
                continue
            child_node = nodes[child]
            if child_node.status == NodeStatus.ACTIVE and (child_node.spec or {}).get("mode") == "any":
                _dispatch_any_items(job, graph, child_node, nodes, batch_indices)
            elif child_node.status == NodeStatus.CREATING:
                _dispatch_ready(job, graph)


def _task_spec(
    job: Job, graph: dag.Graph, node: JobNode, descriptor: dict[str, Any], plan: planning.Plan
) -> dict[str, Any]:
    options = job.pipeline.get("options") or {}
    return {
        "jobId": job.job_id,
        "nodeName": node.node_name,
        "algorithmName": node.algorithm_name,
        "algorithmVersion": node.algorithm_version,
        "pipelineName": job.pipeline_name,
        "priority": job.priority,
        "plan": plan,
        # single: one task (batchIndex 0); batch: item k is batchIndex k+1; any: the
        # item with a parent's batchIndex k+1.
        "mode": "batch" if plan["batch"] else ("any" if plan["waitAny"] else "single"),
        "batch": plan["batch"] or bool(plan["waitAny"]),
        "retry": descriptor.get("retry") or {"policy": "OnCrash", "limit": 3},
        "ttl": descriptor.get("ttl") or 0,
        "batchTolerance": options.get("batchTolerance", 80),
        "cluster": cluster(),
        "info": {
            "savePaths": planning.save_paths(graph, node.node_name),
            "lastRunResult": job.pipeline.get("lastRunResult"),
            "rootJobId": job.root_job_id,
            "extraData": descriptor.get("extraData"),
        },
        "kind": job.pipeline.get("kind", "batch"),
        # Children that stream from this node's items (`*@`): items are reported as they end.
        "anyChildren": [c for c in graph.children(node.node_name) if node.node_name in any_parents(graph, c)],
        "parents": graph.parents(node.node_name),
        "childs": graph.children(node.node_name),
    }


def chunk_indices(total: int) -> list[list[int]]:
    """Split 0..total-1 into chunks: one Celery message per chunk, not per item."""
    size = int(settings.HKUBE_CHUNK_SIZE)
    if size <= 0:
        chunks = min(64, max(1, -(-total // 50)))
        size = -(-total // chunks)
    return [list(range(start, min(total, start + size))) for start in range(0, total, size)]


def _send_tasks(job_id: str, node_pk: int, spec: dict[str, Any], total: int, batch: bool) -> None:
    from celery import chord

    from algorithms.tasks import poke_executor, run_items
    from hkube_site.queues import algorithm_queue
    from pipelines.tasks import node_failed_unexpectedly, node_finished

    queue = algorithm_queue(spec["algorithmName"])
    priority = int(spec["priority"])
    chunks = chunk_indices(total) if batch else [[0]]
    if len(chunks) == 1:
        # One message: the worker that runs it also finishes the node, in process. No
        # chord bookkeeping, no result to store, no hop through the engine queue.
        message = run_items.si({**spec, "inlineFinish": True}, chunks[0])
        ids_ = [message.apply_async(queue=queue, priority=priority, ignore_result=True).id]
    else:
        header = [run_items.si(spec, indices).set(queue=queue, priority=priority) for indices in chunks]
        callback = node_finished.si(job_id, spec["nodeName"])
        body = callback.on_error(node_failed_unexpectedly.si(job_id, spec["nodeName"]))
        result = chord(header)(body)
        ids_ = [r.id for r in (result.parent.results if result.parent else [])]
    JobNode.objects.filter(pk=node_pk).update(celery_ids=ids_)
    poke_executor(spec["algorithmName"])


def node_finished(job_id: str, node_name: str) -> None:
    """A node's tasks all ended: record its output, apply tolerance, go on."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None or job.status != JobStatus.ACTIVE:
            return
        node = JobNode.objects.filter(job=job, node_name=node_name).first()
        if node is None or node.status != NodeStatus.ACTIVE:
            return
        graph = job_graph(job)
        tasks = Task.objects.filter(job=job, node_name=node_name)
        if (node.spec or {}).get("mode") == "any" and tasks.count() < node.total:
            return  # items of a streaming node are still to come
        if node.is_batch:
            counts = dict(tasks.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
            succeed = counts.get(TaskStatus.SUCCEED, 0)
            failed_rows = (
                list(
                    tasks.exclude(status=TaskStatus.SUCCEED)
                    .order_by("end_time", "batch_index")
                    .values_list("batch_index", "error", "status")
                )
                if sum(counts.values()) > succeed
                else []
            )
        else:
            row = tasks.values_list("batch_index", "error", "status", "result").first()
            succeed = 1 if row and row[2] == TaskStatus.SUCCEED else 0
            failed_rows = [row[:3]] if row and not succeed else []
            single_result = row[3] if row and succeed else None
        missing = node.total - succeed - len(failed_rows)
        if missing > 0:
            # A chunk ended without recording some items (a worker lost them): they failed.
            log.warning("job %s node %s: %d items have no record", job_id, node_name, missing)
            recorded = set(
                Task.objects.filter(job=job, node_name=node_name).values_list("batch_index", flat=True)
            )
            first = 1 if node.is_batch else 0
            failed_rows += [
                (i, "the task was lost: no worker recorded it", TaskStatus.FAILED)
                for i in range(first, first + node.total)
                if i not in recorded
            ]
        failed = len(failed_rows)
        error = _fatal_error(node, failed_rows, failed, job.pipeline.get("options") or {})
        stamp = now_ms()
        if error is not None:
            JobNode.objects.filter(pk=node.pk).update(
                status=NodeStatus.FAILED, succeed=succeed, failed=failed, error=error, end_time=stamp
            )
            _fail_job(job, error, node_name)
            return
        output = _output_of(job, node, failed_rows, None if node.is_batch else single_result)
        JobNode.objects.filter(pk=node.pk, status=NodeStatus.ACTIVE).update(
            status=NodeStatus.SUCCEED, succeed=succeed, failed=failed, output=output, end_time=stamp
        )
        _dispatch_ready(job, graph)


def _fatal_error(
    node: JobNode, failed_rows: list[tuple[int, str | None, str]], failed: int, options: dict[str, Any]
) -> str | None:
    if failed == 0:
        return None
    first_error = next((e for _, e, _ in failed_rows if e), "task failed")
    if not node.is_batch:
        return first_error
    # HKube checks at each failure, against the total item count, and fails with the
    # count at the moment the ratio first reached the tolerance: reproduce that moment
    # from the failures in the order they ended.
    tolerance = int(options.get("batchTolerance", 80))
    total = node.total
    for seen, (_, err, _) in enumerate(failed_rows, start=1):
        percent = js_round(seen / total * 100)
        if percent >= tolerance:
            return (
                f"{seen}/{total} ({percent}%) failed tasks, batch tolerance is {tolerance}%, "
                f"error: {err or 'task failed'}"
            )
    return None


def js_round(value: float) -> int:
    """Math.round: halves go up (Python's round() sends 4.5 to 4)."""
    return math.floor(value + 0.5)


def check_tolerance(job_id: str, node_name: str) -> None:
    """Some items of a running batch failed: fail the job now if the failed share already
    reached the tolerance, as HKube checks at each failure (not only when the batch ends)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None or job.status != JobStatus.ACTIVE:
            return
        node = JobNode.objects.filter(job=job, node_name=node_name, status=NodeStatus.ACTIVE).first()
        if node is None or not node.is_batch:
            return
        failed_rows = list(
            Task.objects.filter(job=job, node_name=node_name)
            .exclude(status__in=(TaskStatus.SUCCEED, TaskStatus.STOPPED))
            .order_by("end_time", "batch_index")
            .values_list("batch_index", "error", "status")
        )
        error = _fatal_error(node, failed_rows, len(failed_rows), job.pipeline.get("options") or {})
        if error is None:
            return
        JobNode.objects.filter(pk=node.pk).update(
            status=NodeStatus.FAILED, failed=len(failed_rows), error=error, end_time=now_ms()
        )
        _fail_job(job, error, node_name)


def _output_of(
    job: Job, node: JobNode, failed_rows: list[tuple[int, str | None, str]], result: dict[str, Any] | None
) -> dict[str, Any]:
    if node.is_batch:
        return {
            "kind": "batch",
            "status": "succeed",
            "jobId": job.job_id,
            "nodeName": node.node_name,
            "count": node.total,
            "failed": sorted(i for i, _, _ in failed_rows),
        }
    result = result or {}
    return {
        "kind": "single",
        "status": "succeed",
        "link": {"storageInfo": result.get("storageInfo", {})} if result else None,
        "metadata": result.get("metadata", {}),
    }


def node_failed_unexpectedly(job_id: str, node_name: str, reason: str = "") -> None:
    """The node's messages failed outside the algorithm (a worker error, a lost chord)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None or job.status != JobStatus.ACTIVE:
            return
        message = f"node {node_name} failed: {reason or 'the algorithm worker could not run its tasks'}"
        JobNode.objects.filter(job=job, node_name=node_name).exclude(status__in=FINAL_NODE_STATUSES).update(
            status=NodeStatus.FAILED, error=message, end_time=now_ms()
        )
        _fail_job(job, message, node_name)


def _stop_running_nodes(job: Job) -> None:
    running = list(JobNode.objects.filter(job=job).exclude(status__in=FINAL_NODE_STATUSES))
    celery_ids = [i for n in running for i in (n.celery_ids or [])]
    JobNode.objects.filter(pk__in=[n.pk for n in running]).update(
        status=NodeStatus.STOPPED, end_time=now_ms()
    )
    job_id = job.job_id

    def signal() -> None:
        from hkube_site.celery import app

        rc.mark_job_stopped(job_id)
        if celery_ids:
            app.control.revoke(celery_ids)

    transaction.on_commit(signal)


def _fail_job(job: Job, error: str, node_name: str | None) -> None:
    stamp = now_ms()
    changed = Job.objects.filter(job_id=job.job_id, status=JobStatus.ACTIVE).update(
        status=JobStatus.FAILED,
        level="error",
        error=error,
        error_node=node_name,
        end_time=stamp,
        status_timestamp=stamp,
        result={
            "startTime": job.start_time,
            "pipeline": job.pipeline_name,
            "status": JobStatus.FAILED,
            "error": error,
            **({"nodeName": node_name} if node_name else {}),
            "timestamp": stamp,
            "timeTook": round((stamp - job.start_time) / 1000, 3),
        },
    )
    if changed:
        _freeze_status(job.job_id)
        _stop_running_nodes(job)
        events.status_changed(job, JobStatus.FAILED, "error")
        events.finished(job.job_id)
        scheduling.job_ended(job)


def _finish_job(job: Job, graph: dag.Graph) -> None:
    data = assemble_results(job, graph)
    result_path = paths.job_result(cluster(), job.job_id)
    get_storage().put(result_path, data)
    stamp = now_ms()
    changed = Job.objects.filter(job_id=job.job_id, status=JobStatus.ACTIVE).update(
        status=JobStatus.COMPLETED,
        end_time=stamp,
        status_timestamp=stamp,
        result={
            "startTime": job.start_time,
            "pipeline": job.pipeline_name,
            "status": JobStatus.COMPLETED,
            "data": {"storageInfo": {"path": result_path}},
            "timestamp": stamp,
            "timeTook": round((stamp - job.start_time) / 1000, 3),
        },
    )
    if changed:
        _freeze_status(job.job_id)
        job_id = job.job_id
        transaction.on_commit(lambda: rc.clear_active(job_id))
        events.status_changed(job, JobStatus.COMPLETED)
        events.finished(job_id)
        scheduling.job_ended(job)


def assemble_results(job: Job, graph: dag.Graph) -> list[dict[str, Any]]:
    """Sinks plus nodes flagged includeInResults/includeInResult, one entry per item."""
    storage = get_storage()
    threshold = int(settings.HKUBE_RESULTS_THRESHOLD)
    nodes = {n.node_name: n for n in JobNode.objects.filter(job=job)}
    data: list[dict[str, Any]] = []
    for name in engine_results.result_nodes(graph):
        node = nodes[name]
        algorithm = node.algorithm_name
        if node.status == NodeStatus.SKIPPED:
            continue
        rows = Task.objects.filter(job=job, node_name=name).order_by("batch_index")
        for task in rows.iterator(chunk_size=2000):
            entry: dict[str, Any] = {"nodeName": name, "algorithmName": algorithm}
            if node.is_batch:
                entry["batchIndex"] = task.batch_index
            if task.status == TaskStatus.SUCCEED and task.result:
                info = task.result.get("storageInfo") or {}
                size = info.get("size")
                if size is None:
                    size = storage.adapter.size(info["path"])
                if size >= threshold:
                    entry["info"] = {
                        "path": info["path"],
                        "size": size,
                        "isBigData": True,
                        "message": f"data too large ({size / 1024:.2f} kB), use the stream api",
                    }
                else:
                    entry["result"] = storage.get(info["path"])
            else:
                entry["error"] = task.error or task.status
            data.append(entry)
    return data


def stop_job(job_id: str, reason: str = "stopped due to request") -> bool:
    """Stop one job: queued tasks revoked, running algorithms told to stop."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(job_id=job_id).first()
        if job is None:
            return False
        stamp = now_ms()
        changed = Job.objects.filter(job_id=job_id, status__in=RUNNING_STATUSES).update(
            status=JobStatus.STOPPED,
            reason=reason,
            end_time=stamp,
            status_timestamp=stamp,
            result={
                "startTime": job.start_time,
                "pipeline": job.pipeline_name,
                "status": JobStatus.STOPPED,
                "reason": reason,
                "timestamp": stamp,
                "timeTook": round((stamp - job.start_time) / 1000, 3),
            },
            audit_trail=[{"timestamp": stamp, "user": audit_user(), "action": "stop"}, *job.audit_trail],
        )
        if not changed:
            return False
        _freeze_status(job_id)
        _stop_running_nodes(job)
        events.status_changed(job, JobStatus.STOPPED)
        events.finished(job_id)
        scheduling.job_ended(job)
    return True


def stop_jobs(
    *,
    job_id: str | None = None,
    pipeline_name: str | None = None,
    statuses: list[str] | None = None,
    date_from: int | None = None,
    date_to: int | None = None,
    reason: str | None = None,
) -> list[str]:
    """HKube's bulk stop: a search (newest first, at most 100), then each job stopped."""
    statuses = statuses or ["active", "pending", "paused"]
    query = Job.objects.all()
    needle = job_id or pipeline_name
    if needle:
        from django.db.models import Q

        query = query.filter(Q(job_id=needle) | Q(external_id=needle) | Q(pipeline_name=needle))
    if date_from is not None:
        query = query.filter(start_time__gte=date_from)
    if date_to is not None:
        query = query.filter(start_time__lte=date_to)
    wanted = set(statuses) | ({JobStatus.RESUMED} if "paused" in statuses else set())
    hits = [j for j in query.order_by("-start_time")[:100] if j.status in wanted]
    stopped = [j.job_id for j in hits if stop_job(j.job_id, reason or "stopped due to request")]
    if not stopped:
        criteria = []
        if job_id:
            criteria.append(f"jobId: {job_id}")
        if pipeline_name:
            criteria.append(f"pipelineName: {pipeline_name}")
        if date_from is not None or date_to is not None:
            criteria.append(f"datesRange: {date_from} to {date_to}")
        criteria.append(f"statuses: {','.join(statuses)}")
        raise Missing(f"No jobs found matching criteria ({', '.join(criteria)})")
    return stopped


# --- status --------------------------------------------------------------------------------


def status_data(job: Job) -> dict[str, Any]:
    """`status.data` (progress, states, details) from the nodes and their task rows."""
    nodes = list(JobNode.objects.filter(job=job).values("node_name", "status", "total", "is_batch"))
    counts: Counter[str] = Counter()
    rows = (
        Task.objects.filter(job=job)
        .values_list("node_name", "status")
        .annotate(n=Count("id"))
        .values_list("node_name", "status", "n")
    )
    per_node: dict[str, Counter[str]] = {}
    for node_name, status, n in rows:
        per_node.setdefault(node_name, Counter())[status] += n
    active = rc.active_counts(job.job_id) if job.status == JobStatus.ACTIVE else {}
    total = 0
    for node in nodes:
        name = node["node_name"]
        if node["status"] == NodeStatus.SKIPPED:
            counts["skipped"] += 1
            total += 1
            continue
        node_total = max(1, node["total"])
        total += node_total
        recorded = per_node.get(name, Counter())
        counts.update(recorded)
        remaining = node_total - sum(recorded.values())
        counts.update(unrecorded_states(node["status"], remaining, active.get(name, 0)))
    states = {k: v for k, v in counts.items() if v}
    progress, details = engine_results.progress(states, total or 1)
    return {"progress": progress, "states": states, "details": details}


def _freeze_status(job_id: str) -> None:
    job = Job.objects.get(job_id=job_id)
    Job.objects.filter(job_id=job_id).update(status_data=status_data(job))


def status_object(job: Job) -> dict[str, Any]:
    data = job.status_data if job.status in FINAL_JOB_STATUSES and job.status_data else status_data(job)
    body: dict[str, Any] = {
        "jobId": job.job_id,
        "timestamp": job.status_timestamp,
        "pipeline": job.pipeline_name,
        "status": job.status,
        "level": job.level,
        "data": data,
    }
    if job.active_time:
        body["activeTime"] = job.active_time
    if job.status in FINAL_JOB_STATUSES and job.end_time:
        if job.active_time:
            body["netTimeTook"] = round((job.end_time - job.active_time) / 1000, 3)
        body["grossTimeTook"] = round((job.end_time - job.start_time) / 1000, 3)
    if job.error:
        body["error"] = job.error
        if job.error_node:
            body["nodeName"] = job.error_node
    if job.reason:
        body["reason"] = job.reason
    return body


def result_object(job: Job) -> dict[str, Any]:
    if job.result is None:
        raise InvalidData(
            f"unable to get results for pipeline {job.pipeline_name} because its in {job.status} status"
        )
    body: dict[str, Any] = {"jobId": job.job_id, **job.result}
    data = body.get("data")
    if isinstance(data, dict) and data.get("storageInfo"):
        try:
            body["data"] = get_storage().get(data["storageInfo"]["path"])
        except Exception as exc:  # noqa: BLE001 - reported in the body, as HKube does
            body["data"] = None
            body["error"] = f"failed to get from storage: {exc}"
        body["storageModule"] = get_storage().adapter.name
    return body


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
