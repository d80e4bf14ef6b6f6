"""Sub-pipelines started from algorithm code (semantics §6.2): the database side.

The algorithm worker (`algorithms/runtime/code_api.py`) calls these while a task runs:
`start` submits the child job, `outcome` reads a finished child, `stop` stops one. This is
what HKube's internal `/exec/raw|stored/subPipeline` endpoints do; here the worker calls the
services directly instead of going over HTTP.

Parent and child are separate jobs, linked by `parent_job_id` and `root_job_id` (the parent's
root, or the parent itself). A child's failure never fails its parent. Stopping or failing the
parent job stops its running children (`services.stop_children`, called as the parent ends), and
`job_tree` shows them under their parent, next to the jobs that pipeline triggers started.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, Literal

from hkube_site.errors import NotFound
from hkube_site.object_store import get_storage
from pipelines import schema, services
from pipelines.models import SUB_PIPELINE_TYPE, Job, JobStatus, Pipeline, TriggerKind, TriggerRun

RAW_TYPES = ["internal", "raw", SUB_PIPELINE_TYPE]
STORED_TYPES = ["internal", "stored", SUB_PIPELINE_TYPE]
# What HKube's internal endpoints take off the posted body before running it.
_LINK_FIELDS = ("jobId", "taskId", "parentJobId", "rootJobId", "spanId")

Kind = Literal["raw", "stored"]
#: `(status, detail)` of a finished child: ('completed', result data or None),
#: ('failed', error message) or ('stopped', reason).
Outcome = tuple[str, Any]


def start(kind: Kind, sub_pipeline: dict[str, Any], *, parent_job_id: str, root_job_id: str | None) -> str:
    """Submit a child job for the task of `parent_job_id`; returns its jobId.

    Raw: the pipeline as given. Stored: the stored pipeline, with the given flowInput deep-merged
    into the stored one. The child inherits the parent's experiment; types are
    `[internal, raw|stored, sub-pipeline]`. Refusals raise the services' errors (`ApiError`,
    `ValidationError`), whose `message` goes back to the algorithm.
    """
    parent = Job.objects.filter(job_id=parent_job_id).values("experiment", "root_job_id").first()
    if parent is None:
        raise NotFound("job", parent_job_id)
    root = root_job_id or parent["root_job_id"] or parent_job_id
    body = {k: copy.deepcopy(v) for k, v in sub_pipeline.items() if k not in _LINK_FIELDS}
    if kind == "stored":
        schema.validate_exec_stored(body)
        stored = Pipeline.objects.filter(name=body["name"]).first()
        if stored is None:
            raise NotFound("pipeline", body["name"])
        flow_input = body.pop("flowInput", None)
        descriptor = services.merge_stored(stored.descriptor, body)
        if flow_input is not None:
            merged = services.merge_stored(
                {"value": stored.descriptor.get("flowInput")}, {"value": flow_input}
            )
            descriptor["flowInput"] = merged["value"]
        types = STORED_TYPES
    else:
        descriptor = body
        types = RAW_TYPES
    descriptor["experimentName"] = parent["experiment"]
    descriptor["rootJobId"] = root
    descriptor["parentJobId"] = parent_job_id
    job = services.submit_job(descriptor, types=list(types), parent_job_id=parent_job_id, root_job_id=root)
    return job.job_id


def outcome(job_id: str, *, with_result: bool = True, inline_big_data: bool = False) -> Outcome | None:
    """How a child ended, or None while it runs.

    A completed child's detail is its result data `[{nodeName, batchIndex?, algorithmName,
    result | info}]`. Entries too big to inline carry `info: {path, isBigData: true}`; HKube's
    wrapper reads those itself, so `inline_big_data` is for wrappers that never read storage
    (storage v1): their `result` is filled in here.
    """
    job = Job.objects.filter(job_id=job_id).first()
    if job is None:
        return ("failed", f"sub-pipeline job {job_id} Not Found")
    if job.status == JobStatus.COMPLETED:
        if not with_result:
            return ("completed", None)
        body = services.result_object(job)
        if body.get("error"):
            return ("failed", str(body["error"]))
        data = body.get("data") or []
        if inline_big_data:
            data = [_inlined(entry) for entry in data]
        return ("completed", data)
    if job.status == JobStatus.FAILED:
        return ("failed", job.error or "subpipeline job failed")
    if job.status == JobStatus.STOPPED:
        return ("stopped", job.reason or "")
    return None


def _inlined(entry: Any) -> Any:
    info = entry.get("info") if isinstance(entry, dict) else None
    if not (isinstance(info, dict) and info.get("isBigData")):
        return entry
    return {**entry, "result": get_storage().get(info["path"])}


def stop(job_id: str, reason: str) -> bool:
    """Stop one child; False when it had ended already."""
    return services.stop_job(job_id, reason)


def job_tree(job_id: str) -> dict[str, Any]:
    """`exec/tree/{jobId}`: the jobs started from this root job, by pipeline triggers and as
    sub-pipelines, as `{name, jobId, children: [...]}`."""
    children: dict[str, list[tuple[str, str]]] = defaultdict(list)
    runs = TriggerRun.objects.filter(kind=TriggerKind.PIPELINE, root_job_id=job_id, job_id__isnull=False)
    for run in runs:
        children[run.source].append((run.pipeline_name, str(run.job_id)))
    subs = (
        Job.objects.filter(root_job_id=job_id, parent_job_id__isnull=False)
        .order_by("start_time", "job_id")
        .values_list("job_id", "pipeline_name", "parent_job_id", "types")
    )
    for child_id, name, parent_id, types in subs:
        if SUB_PIPELINE_TYPE in (types or []):
            children[str(parent_id)].append((name, child_id))
    if not children:
        raise NotFound("tree", job_id)
    root = Job.objects.filter(job_id=job_id).values_list("pipeline_name", flat=True).first()

    # Every child job is new when it is linked, so the links form a tree.
    def node(name: str, jid: str) -> dict[str, Any]:
        return {"name": name, "jobId": jid, "children": [node(n, j) for n, j in children.get(jid, [])]}

    return node(root or "", job_id)
