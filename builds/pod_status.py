"""What a build Job and its pod say about the build: a pure reading of the objects the
Kubernetes API returns (`V1Job`, `V1Pod`), so every case is tested on plain objects.

The pod has an init container `prepare` (writes the build context) and a container
`builder` (kaniko-compatible: builds and pushes, and writes the image digest to the
termination log). Image pull failures of either fail the build at once, with HKube's
message, instead of waiting for the Job's deadline (Airflow's rule: fail fast on pull
errors). No Django imports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

PREPARE = "prepare"
BUILDER = "builder"
IMAGE_PULL_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "ImageInspectError",
        "ErrImageNeverPull",
        "RegistryUnavailable",
        "InvalidImageName",
    }
)
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
IMAGE_MESSAGE = "please check that your image exists and valid"


class Phase(enum.Enum):
    WAITING = "waiting"  # no pod yet, or the pod is not scheduled / pulling
    PREPARING = "preparing"  # the init container writes the context
    BUILDING = "building"  # the builder runs
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# The progress a build shows in each phase (HKube shows a percentage).
PROGRESS = {Phase.WAITING: 10, Phase.PREPARING: 20, Phase.BUILDING: 50, Phase.SUCCEEDED: 100, Phase.FAILED: 0}


@dataclass(frozen=True)
class Observation:
    phase: Phase
    detail: str = ""  # why it waits, or why it failed
    digest: str = ""  # the pushed image's digest (sha256:...), when succeeded
    pod_name: str = ""
    builder_started: bool = False  # the builder's log can be read
    prepare_started: bool = False

    @property
    def progress(self) -> int:
        return PROGRESS[self.phase]


def _statuses(pod: Any, init: bool) -> dict[str, Any]:
    status = getattr(pod, "status", None)
    items = (getattr(status, "init_container_statuses" if init else "container_statuses", None)) or []
    return {item.name: item for item in items}


def _waiting(container: Any) -> tuple[str, str]:
    waiting = getattr(getattr(container, "state", None), "waiting", None)
    if waiting is None:
        return "", ""
    return str(waiting.reason or ""), str(waiting.message or "")


def _terminated(container: Any) -> Any:
    return getattr(getattr(container, "state", None), "terminated", None)


def _running(container: Any) -> bool:
    return getattr(getattr(container, "state", None), "running", None) is not None


def _job_failure(job: Any) -> str | None:
    status = getattr(job, "status", None)
    for condition in getattr(status, "conditions", None) or []:
        if condition.type == "Failed" and condition.status == "True":
            return f"{condition.reason or 'Failed'}: {condition.message or 'the build job failed'}"
    return None


def _job_succeeded(job: Any) -> bool:
    status = getattr(job, "status", None)
    if (getattr(status, "succeeded", None) or 0) > 0:
        return True
    conditions = getattr(status, "conditions", None) or []
    return any(c.type == "Complete" and c.status == "True" for c in conditions)


def _unscheduled(pod: Any) -> str:
    for condition in getattr(getattr(pod, "status", None), "conditions", None) or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            return str(condition.message or condition.reason or "the build pod is not scheduled yet")
    return ""


def observe(job: Any, pod: Any | None) -> Observation:
    """The build's state from its Job and its (newest) pod, `None` when none exists yet."""
    name = str(getattr(getattr(pod, "metadata", None), "name", "") or "")
    init, main = _statuses(pod, True), _statuses(pod, False)
    prepare, builder = init.get(PREPARE), main.get(BUILDER)
    prepare_started = prepare is not None and (_running(prepare) or _terminated(prepare) is not None)
    builder_started = builder is not None and (_running(builder) or _terminated(builder) is not None)

    def seen(phase: Phase, detail: str = "", digest: str = "") -> Observation:
        return Observation(phase, detail, digest, name, builder_started, prepare_started)

    for label, container in ((PREPARE, prepare), (BUILDER, builder)):
        reason, message = _waiting(container)
        if reason in IMAGE_PULL_REASONS:
            image = getattr(container, "image", "") or ""
            return seen(Phase.FAILED, f"{IMAGE_MESSAGE} ({label} image {image}: {reason} {message})".strip())
        if reason in CONFIG_REASONS:
            return seen(Phase.FAILED, f"{label}: {reason}: {message}".strip())

    done = _terminated(prepare)
    if done is not None and done.exit_code != 0:
        return seen(Phase.FAILED, f"preparing the build context failed (exit code {done.exit_code})")
    done = _terminated(builder)
    if done is not None:
        if done.exit_code == 0:
            return seen(Phase.SUCCEEDED, digest=str(done.message or "").strip())
        reason = f"{done.reason}: " if done.reason and done.reason != "Error" else ""
        return seen(Phase.FAILED, f"the image build failed ({reason}exit code {done.exit_code})")

    failure = _job_failure(job)
    if failure is not None:
        return seen(Phase.FAILED, failure)
    if _job_succeeded(job):
        return seen(Phase.SUCCEEDED)
    if pod is None:
        return seen(Phase.WAITING, "waiting for the build pod")
    if getattr(pod.status, "phase", None) == "Failed":
        return seen(Phase.FAILED, str(pod.status.message or pod.status.reason or "the build pod failed"))
    if builder_started:
        return seen(Phase.BUILDING)
    if prepare_started:
        return seen(Phase.PREPARING)
    return seen(Phase.WAITING, _unscheduled(pod) or "waiting for the build pod to start")
