"""What a worker pod's state means for HKube: `classify(pod, events) -> Outcome`. Pure.

Pods are the API's JSON (camelCase dicts, as a list or a watch returns them). The mapping
follows HKube's worker and task-executor (`worker/lib/helpers/kubernetes.js`, the
failure table in the cluster reference) with Airflow's rules for what a pod watcher sees
and HKube's in-pod polling does not (a deleted pod, an eviction, a lost node):

| pod state                                                 | outcome        |
|-----------------------------------------------------------|----------------|
| a container waiting on an image pull error                | IMAGE_PULL     |
| a container terminated `OOMKilled`                        | OOM            |
| `CreateContainerConfigError` / `CreateContainerError`     | CRASH          |
| evicted, its node lost or shut down, a disruption target  | CRASH          |
| deleted (or gone on a relist) before it succeeded         | CRASH          |
| `Failed` for any other reason                             | CRASH          |
| `Pending` with `PodScheduled=False` (`Unschedulable`)     | UNSCHEDULABLE  |
| `Succeeded`                                               | FINISHED       |
| anything else (creating, running)                         | NONE           |
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from k8s import naming

# HKube's list (worker/lib/consts: `ImagePullErrors`), on the algorunner or any container.
IMAGE_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "ImageInspectError",
     "RegistryUnavailable"}
)  # fmt: skip
IMAGE_MESSAGE = "please check that your image exists and valid"
# The kubelet's own throttle: the image may be fine, the next pull decides (Airflow's exception).
TRANSIENT_PULL = "pull QPS exceeded"
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
NODE_GONE_REASONS = frozenset({"Evicted", "NodeLost", "NodeShutdown", "Shutdown", "Terminated"})


class Kind(enum.StrEnum):
    NONE = "none"
    FINISHED = "finished"
    IMAGE_PULL = "imagePull"
    OOM = "oomKilled"
    CRASH = "crash"
    UNSCHEDULABLE = "unschedulable"

    @property
    def final(self) -> bool:
        """The pod will not run work again: the outcome is applied once."""
        return self in (Kind.IMAGE_PULL, Kind.OOM, Kind.CRASH, Kind.FINISHED)


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    message: str = ""
    container: str = ""  # the container it is about, when one
    since: float | None = None  # UNSCHEDULABLE: when the scheduler first refused it (epoch seconds)


@dataclass(frozen=True)
class WorkerPod:
    """Whose a pod (or a Job) is, from its labels, annotation and worker env."""

    name: str
    uid: str
    worker_id: str
    algorithm: str
    version: str
    job: str  # the Job that owns it ("" when none)


def identity(obj: Mapping[str, Any]) -> WorkerPod:
    """A worker pod's or Job's identity. The worker id is the worker container's exact
    `HKUBE_WORKER_ID` (a label value may have been shortened), else the label."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    spec = obj.get("spec") or {}
    if "template" in spec:  # a Job: its pod template holds the containers
        spec = (spec.get("template") or {}).get("spec") or {}
    worker_id = str(labels.get(naming.WORKER_ID) or "")
    for container in spec.get("containers") or []:
        for variable in container.get("env") or []:
            if variable.get("name") == "HKUBE_WORKER_ID" and variable.get("value"):
                worker_id = str(variable["value"])
    owners = [o for o in meta.get("ownerReferences") or [] if o.get("kind") == "Job"]
    job = str(owners[0].get("name") or "") if owners else str(labels.get("job-name") or "")
    return WorkerPod(
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        worker_id=worker_id,
        algorithm=str(labels.get(naming.ALGORITHM) or ""),
        version=str(annotations.get(naming.VERSION_ANNOTATION) or ""),
        job=job,
    )


def classify(
    pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = (), *, deleted: bool = False
) -> Outcome:
    """The outcome of one worker pod. `events` are the Events whose involvedObject is the pod
    (their text is the scheduler's and the kubelet's own words); `deleted`: the pod is gone."""
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "")
    containers = _container_statuses(status)

    for name, waiting in _states(containers, "waiting"):
        reason = str(waiting.get("reason") or "")
        text = str(waiting.get("message") or "") or _event_text(events, ("Failed",)) or reason
        if reason in IMAGE_PULL_REASONS and TRANSIENT_PULL not in text:
            return Outcome(Kind.IMAGE_PULL, f"Container - {name}: {text}. {IMAGE_MESSAGE}", name)
    for name, terminated in _states(containers, "terminated", also_last=True):
        if terminated.get("reason") == "OOMKilled":
            return Outcome(Kind.OOM, f"container {name} was OOMKilled", name)
    for name, waiting in _states(containers, "waiting"):
        reason = str(waiting.get("reason") or "")
        if reason in CONFIG_REASONS:
            text = f"Container - {name}: {reason}: {waiting.get('message') or ''}".rstrip(": ")
            return Outcome(Kind.CRASH, text, name)

    reason = str(status.get("reason") or "")
    pod_name = str((pod.get("metadata") or {}).get("name") or "")
    if reason in NODE_GONE_REASONS:
        return Outcome(Kind.CRASH, f"pod {pod_name}: {reason}: {status.get('message') or ''}".rstrip(": "))
    disruption = _condition(status, "DisruptionTarget")
    if disruption is not None and disruption.get("status") == "True":
        why = disruption.get("message") or disruption.get("reason") or "disrupted"
        return Outcome(Kind.CRASH, f"pod {pod_name} is being removed from its node: {why}")
    if phase == "Succeeded":
        return Outcome(Kind.FINISHED)
    if deleted:
        return Outcome(Kind.CRASH, f"pod {pod_name} was deleted before its worker finished")
    if phase == "Failed":
        why = _failure(containers) or reason or "unknown reason"
        return Outcome(Kind.CRASH, f"pod {pod_name} failed: {why}")

    scheduled = _condition(status, "PodScheduled")
    scheduled = scheduled or {}
    refused = scheduled.get("status") == "False" and scheduled.get("reason") in (
        "Unschedulable",
        "SchedulerError",
    )
    if phase == "Pending" and refused:
        text = _event_text(events, ("FailedScheduling",)) or str(scheduled.get("message") or "")
        since = parse_time(scheduled.get("lastTransitionTime"))
        return Outcome(Kind.UNSCHEDULABLE, text or "Unschedulable", since=since)
    return Outcome(Kind.NONE)


def parse_time(value: Any) -> float | None:
    """An RFC 3339 timestamp of the API (`2026-01-02T03:04:05Z`) as epoch seconds."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _container_statuses(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _states(
    containers: list[Mapping[str, Any]], which: str, *, also_last: bool = False
) -> list[tuple[str, Mapping[str, Any]]]:
    found = []
    for container in containers:
        name = str(container.get("name") or "")
        for key in ("state", "lastState") if also_last else ("state",):
            state = (container.get(key) or {}).get(which)
            if state:
                found.append((name, state))
    return found


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def _event_text(events: Sequence[Mapping[str, Any]], reasons: tuple[str, ...]) -> str:
    """The newest matching Event's message (an Event's last time, else its first)."""
    matching = [e for e in events if e.get("reason") in reasons and e.get("message")]
    if not matching:
        return ""
    newest = max(matching, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return str(newest["message"])


def _failure(containers: list[Mapping[str, Any]]) -> str:
    """Why a failed pod's containers ended: `algorunner exited with code 1 (Error)`, ..."""
    parts = []
    for name, terminated in _states(containers, "terminated"):
        code = terminated.get("exitCode")
        if code not in (0, None):
            parts.append(f"{name} exited with code {code} ({terminated.get('reason') or 'Error'})")
    return ", ".join(parts)
