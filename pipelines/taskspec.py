"""The task spec: what the driver tells an algorithm worker about a node's tasks.

A node's spec crosses the broker with every `run_items` message (`send_chunks` in
`pipelines/services/sending.py`) and is kept on its `JobNode` row (`spec`). It is plain
JSON: its keys are the wire format. Running workers and redelivered messages read the
same keys, so keys are only ever added, as `NotRequired`, never renamed.

The spec is built in one place, `task_spec`; the per-message variants (`inlineFinish`,
`missing`) come from `for_message`. Readers: the algorithm worker
(`algorithms/worker.py`, `algorithms/runtime/runner.py`), the output nodes
(`pipelines/outputs.py`) and the Task rows (`pipelines/services/recording.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict, cast

from pipelines.engine import planning
from pipelines.engine.retry import DEFAULT_LIMIT, DEFAULT_POLICY
from pipelines.engine.shapes import Plan

if TYPE_CHECKING:
    from pipelines.engine.dag import Graph
    from pipelines.models import Job, JobNode

#: The registered name of the algorithm worker's task (`algorithms/tasks.py`): pipelines
#: sends it by name and never imports the algorithms app.
RUN_ITEMS = "algorithms.tasks.run_items"

Mode = Literal["single", "batch", "any"]


class RetryPolicy(TypedDict, total=False):
    """A node's `retry` (HKube's `OnCrash`, `Always`, `Never`, `OnError`; `limit` tries more)."""

    policy: str
    limit: int


class TaskInfo(TypedDict):
    """What the algorithm gets as `info` with each task."""

    savePaths: list[str]
    lastRunResult: Any
    rootJobId: str | None
    extraData: Any


class TaskSpec(TypedDict):
    """One node's tasks, as `run_items(spec, indices)` receives them."""

    jobId: str
    nodeName: str
    algorithmName: str
    algorithmVersion: str
    pipelineName: str
    priority: int
    plan: Plan
    # single: one task (batchIndex 0); batch: item k is batchIndex k+1; any: the item with
    # a parent's batchIndex k+1.
    mode: Mode
    batch: bool
    retry: RetryPolicy
    ttl: float
    cluster: str
    info: TaskInfo
    kind: str
    nodeKind: str
    # Served by a developer's own process (the debug queue, algorithms/debug.py).
    debug: bool
    # Children that stream from this node's items (`*@`): items are reported as they end.
    anyChildren: list[str]
    parents: list[str]
    childs: list[str]
    # Per message: the worker that runs it also finishes the node (no chord).
    inlineFinish: NotRequired[bool]
    # Per message of a wait-any node: batchIndex -> the `*@` parents whose item failed.
    missing: NotRequired[dict[str, list[str]]]
    # Stream jobs (`kind: stream`, docs/streaming.md): the node's state type and the job's
    # flows, as HKube's task carries them; `childs`/`parents` are then the flows' neighbours.
    stateType: NotRequired[str]
    parsedFlow: NotRequired[dict[str, list[dict[str, Any]]]]
    defaultFlow: NotRequired[str]


def any_parents(graph: Graph, name: str) -> list[str]:
    """Parents related to `name` only by wait-any (`*@P`): P's items drive `name`'s items."""
    return [p for p in graph.parents(name) if set(graph.edge_types(p, name)) - {"input"} == {"waitAny"}]


def task_spec(
    job: Job, graph: Graph, node: JobNode, descriptor: dict[str, Any], plan: Plan, *, cluster: str
) -> TaskSpec:
    """The spec of a node about to be dispatched (the one builder of the wire format)."""
    options = job.pipeline.get("options") or {}
    mode: Mode = "batch" if plan["batch"] else ("any" if plan["waitAny"] else "single")
    retry: RetryPolicy = descriptor.get("retry") or RetryPolicy(policy=DEFAULT_POLICY, limit=DEFAULT_LIMIT)
    return {
        "jobId": job.job_id,
        "nodeName": node.node_name,
        "algorithmName": node.algorithm_name,
        "algorithmVersion": node.algorithm_version,
        "pipelineName": job.pipeline_name,
        "priority": job.priority,
        "plan": plan,
        "mode": mode,
        "batch": plan["batch"] or bool(plan["waitAny"]),
        "retry": retry,
        "ttl": descriptor.get("ttl") or 0,
        "cluster": cluster,
        "info": {
            "savePaths": planning.save_paths(graph, node.node_name),
            "lastRunResult": job.pipeline.get("lastRunResult"),
            "rootJobId": job.root_job_id,
            "extraData": descriptor.get("extraData"),
        },
        "kind": job.pipeline.get("kind", "batch"),
        "nodeKind": descriptor.get("kind") or "algorithm",
        "debug": descriptor.get("kind") == "debug" or node.node_name in (options.get("debugOverride") or []),
        "anyChildren": [c for c in graph.children(node.node_name) if node.node_name in any_parents(graph, c)],
        "parents": graph.parents(node.node_name),
        "childs": graph.children(node.node_name),
    }


def for_message(
    spec: TaskSpec, *, inline_finish: bool = False, missing: dict[str, list[str]] | None = None
) -> TaskSpec:
    """A copy of `spec` for one message: `inlineFinish` and `missing` are set only when given."""
    message = TaskSpec(**spec)
    if inline_finish:
        message["inlineFinish"] = True
    if missing is not None:
        message["missing"] = missing
    return message


def for_stream(
    spec: TaskSpec,
    *,
    state_type: str,
    parsed_flow: dict[str, list[dict[str, Any]]],
    default_flow: str,
    childs: list[str],
    parents: list[str],
) -> TaskSpec:
    """The spec of a stream node's long-lived tasks: a stateful node is one task (`single`),
    a stateless node's replicas are items 1..n (`batch`)."""
    stream = TaskSpec(**spec)
    stream["kind"] = "stream"
    stream["mode"] = "single" if state_type == "stateful" else "batch"
    stream["batch"] = state_type != "stateful"
    stream["stateType"] = state_type
    stream["parsedFlow"] = parsed_flow
    stream["defaultFlow"] = default_flow
    stream["childs"] = childs
    stream["parents"] = parents
    stream["anyChildren"] = []
    return stream


def is_stream(spec: TaskSpec) -> bool:
    return spec.get("kind") == "stream"


def stored(value: object) -> TaskSpec:
    """A spec read back from JSON (a JobNode row, a broker message): the driver wrote it."""
    return cast(TaskSpec, value)


def batch_index(spec: TaskSpec, index: int) -> int:
    """The batchIndex of position `index` of a message: 0 for a single task, else `index + 1`."""
    return 0 if spec["mode"] == "single" else index + 1


def missing_parents(spec: TaskSpec, batch_index: int) -> list[str]:
    """The `*@` parents whose item `batch_index` failed (a wait-any item's null inputs)."""
    return (spec.get("missing") or {}).get(str(batch_index), [])
