"""The driver: dispatch nodes when their parents end, stream wait-any items, finish nodes.

A plain node is one message; a batch is a chord of chunk messages (one message per
chunk, not per item) unless it fits one chunk. Every step runs under the job's row lock
and changes state by compare-and-swap, so redelivered messages do nothing twice."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from hkube_site import redis_client as rc
from pipelines import events, outputs, ports, taskspec
from pipelines.engine import dag, planning, tolerance
from pipelines.models import (
    FINAL_NODE_STATUSES,
    Job,
    JobNode,
    JobStatus,
    NodeStatus,
    Task,
    TaskStatus,
    now_ms,
)
from pipelines.services import sending, stream_run, streams
from pipelines.services.common import cluster, job_graph
from pipelines.services.ending import _fail_job, _finish_job
from pipelines.taskspec import TaskSpec, for_message, task_spec
from pipelines.taskspec import any_parents as any_parents  # re-exported by pipelines.services

log = logging.getLogger(__name__)


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
                    algorithm_name=outputs.node_algorithm(job.pipeline_name, node),
                    algorithm_version=versions.get(node.get("algorithmName", ""), ""),
                    position=position,
                    level=levels.get(name, 0),
                )
                for position, (name, node) in enumerate(graph.nodes.items())
            ],
            ignore_conflicts=True,
        )
        if streams.is_stream(job.pipeline):  # a stream job's nodes are the streaming runtime's
            streams.start_stream_job(job, graph)
            stream_run.dispatch_stream_job(job, graph)  # its nodes' long-lived tasks
            return
        _dispatch_ready(job, graph)


def _current_versions(names: set[str]) -> dict[str, str]:
    return ports.get().current_versions(names)


def _node_output(node: JobNode) -> dict[str, Any]:
    return node.output or {"kind": "skipped"}


def _streaming_parents(graph: dag.Graph, node: JobNode, nodes: dict[str, JobNode]) -> list[str] | None:
    """The `*@` batch parents a node may stream from now, or None if it must wait.

    HKube's rule: item i of the node may start once item i of every `*@` parent ended and
    every other parent is final. So the node starts streaming as soon as its other parents
    are final and its `*@` parents are dispatched batches."""
    if dag.has_batch_input(graph.nodes[node.node_name]):
        return None  # `*@` next to a batch input: the batch runs per `*@` item once all ended
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
    parent_outputs = {p: _node_output(nodes[p]) for p in graph.parents(node.node_name)}
    # Parents outside a run-from-node cut: the old job's outputs (its storage paths, nothing copied).
    for name, output in (job.pipeline.get("cachedOutputs") or {}).items():
        parent_outputs.setdefault(name, output)
    streaming = [p for p in graph.parents(node.node_name) if nodes[p].status == NodeStatus.ACTIVE]
    for parent in streaming:
        # A running `*@` batch parent: its items are named by batchIndex; which of them
        # failed is sent with each child item instead (see _dispatch_any_items).
        parent_outputs[parent] = {"kind": "batch", "status": "active", "jobId": job.job_id,
                                  "nodeName": parent, "count": nodes[parent].total, "failed": []}  # fmt: skip
    plan = planning.plan_node(
        descriptor, outputs=parent_outputs, flow_input=_flow_input_ref(job), cluster=cluster()
    )
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
    # The messages' ids are written with the dispatch (no second write after sending).
    chunks = [] if streaming else chunk_indices(total) if many else [[0]]
    celery_ids = [] if outputs.is_output(spec) else sending.new_ids(len(chunks))
    changed = JobNode.objects.filter(pk=node.pk, status=NodeStatus.CREATING).update(
        status=NodeStatus.ACTIVE, is_batch=many, total=total, spec=spec, start_time=stamp,
        celery_ids=celery_ids,
    )  # fmt: skip
    if changed and streaming:
        node.spec, node.total = spec, total
        _dispatch_any_items(job, graph, node, nodes, None)
    elif changed:
        transaction.on_commit(lambda: _send_tasks(spec, chunks, celery_ids))
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
    spec = for_message(_node_spec(node), missing={str(i): ready[i] for i in fresh if ready[i]})
    job_id = job.job_id
    transaction.on_commit(lambda: _send_items(job_id, spec, [i - 1 for i in fresh]))


def _node_spec(node: JobNode) -> TaskSpec:
    """The spec a dispatched node was sent with (kept on its row)."""
    return taskspec.stored(node.spec or {})


def _send_items(job_id: str, spec: TaskSpec, indices: list[int]) -> None:
    """Streamed items: small messages, each finishing the node if it was the last one."""
    if outputs.is_output(spec):
        _run_output_node(spec, indices)  # no algorithm: the driver runs it here
        return
    sending.send_chunks(
        spec, [indices[start : start + 50] for start in range(0, len(indices), 50)], inline_finish=True
    )


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
            if child_node.status == NodeStatus.ACTIVE and _node_spec(child_node).get("mode") == "any":
                _dispatch_any_items(job, graph, child_node, nodes, batch_indices)
            elif child_node.status == NodeStatus.CREATING:
                _dispatch_ready(job, graph)


def _task_spec(
    job: Job, graph: dag.Graph, node: JobNode, descriptor: dict[str, Any], plan: planning.Plan
) -> TaskSpec:
    return task_spec(job, graph, node, descriptor, plan, cluster=cluster())


def chunk_indices(total: int) -> list[list[int]]:
    """Split 0..total-1 into chunks: one Celery message per chunk, not per item."""
    size = int(settings.HKUBE_CHUNK_SIZE)
    if size <= 0:
        chunks = min(64, max(1, -(-total // 50)))
        size = -(-total // chunks)
    return [list(range(start, min(total, start + size))) for start in range(0, total, size)]


def _send_tasks(spec: TaskSpec, chunks: list[list[int]], celery_ids: list[str]) -> None:
    if outputs.is_output(spec):
        _run_output_node(spec, [i for chunk in chunks for i in chunk])  # no algorithm
        return
    # One message: the worker that runs it also finishes the node, in process.
    sending.send_chunks(spec, chunks, inline_finish=len(chunks) == 1, task_ids=celery_ids)


def _run_output_node(spec: TaskSpec, indices: list[int]) -> None:
    """Run items of an output node (`outputs.run_output_items`) and finish the node.

    Called after commit, never inside the job's lock: it reads and writes storage. An
    unexpected error (the database, say) fails the node, as a lost worker chunk does."""
    try:
        outputs.run_output_items(spec, indices)
        node_finished(spec["jobId"], spec["nodeName"])
    except Exception as exc:
        log.exception("job %s: output node %s failed", spec["jobId"], spec["nodeName"])
        node_failed_unexpectedly(spec["jobId"], spec["nodeName"], f"output node: {exc}")


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
        if _node_spec(node).get("mode") == "any" and tasks.count() < node.total:
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
    limit = int(options.get("batchTolerance", tolerance.DEFAULT_BATCH_TOLERANCE))
    return tolerance.batch_failure([err for _, err, _ in failed_rows], node.total, limit)


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
