"""Builds in the cluster (`HKUBE_LAUNCHER=kubernetes`): a `build-<buildId>` Job
(`k8s.build_specs.build_job`) builds and pushes `<registry>/<namespace>/<algorithm>:<version>`.

Nothing waits on a pod. `start_build` creates the Job and returns; `poll_build` reads the Job,
its pod and its logs once (every call is bounded by the client's request timeout) and says
when to look again; the `builds` tasks re-schedule themselves with that delay. The build's
status, progress and live log come from the pod (`builds/pod_status.py`); a build past the
Job's own deadline (plus a grace) fails even if the cluster never says so. A stop marks the
row and deletes the Job (its pod goes with it). Success sends `build_completed` with the
image as the version's `algorithmImage`, so the version runs that image.

State changes are compare-and-swap on the Build row: pending -> creating (the version, i.e.
the image tag, is chosen here, once) -> active -> completed/failed; stopped from any of them.
A redelivered start finds the row `creating` and its own Job (same version annotation).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any

from django.conf import settings

from builds import pod_status, signals
from builds.models import Build, BuildStatus
from k8s import naming
from k8s.build_specs import BuildSettings, build_job, image_name
from k8s.client import ClientSettings, Kube, KubeError, Retryable, call, connect
from k8s.release import ReleaseConfigError, build_settings
from pipelines.engine import ids
from pipelines.models import now_ms

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 5000
DEADLINE_GRACE_SECONDS = 300


def enabled() -> bool:
    """Builds run in the cluster when the launcher is Kubernetes."""
    return getattr(settings, "HKUBE_LAUNCHER", "local") == "kubernetes"


def poll_seconds() -> float:
    return float(getattr(settings, "HKUBE_BUILD_POLL_SECONDS", 2.0))


@lru_cache(maxsize=1)
def kube() -> Kube:
    """The API client (in-cluster service account, else KUBECONFIG), made once per process."""
    return connect(ClientSettings(namespace=os.environ.get("HKUBE_K8S_NAMESPACE") or None))


def release_settings() -> BuildSettings:
    found = build_settings(os.environ)
    if found is None:
        raise ReleaseConfigError(
            "builds in the cluster need a registry: set the chart's builds.registry (HKUBE_BUILD_REGISTRY)"
        )
    return found


def job_name(build_id: str) -> str:
    return naming.job_name(f"build-{build_id}")


# --- start -----------------------------------------------------------------------------------------


def start_build(build_id: str) -> float | None:
    """Create the build's Job; the seconds until the first poll, or None when there is nothing
    to follow (stopped, failed to create). Raises `Retryable` when the API asks to try later."""
    if Build.objects.filter(build_id=build_id, status=BuildStatus.PENDING).update(
        status=BuildStatus.CREATING, version=ids.version_id(), progress=5, start_time=now_ms(), log=""
    ):
        log.info("build %s: creating its Job", build_id)
    build = Build.objects.filter(build_id=build_id).first()
    if build is None or build.status != BuildStatus.CREATING:
        return None
    try:
        build_config = release_settings()
    except ReleaseConfigError as exc:
        fail(build_id, str(exc), statuses=(BuildStatus.CREATING,))
        return None
    job = build_job(
        build_id=build_id, algorithm=build.algorithm_name, version=build.version, settings=build_config
    )
    api = kube()
    try:
        call(api.batch.create_namespaced_job, api.namespace, job, _request_timeout=api.request_timeout)
    except KubeError as exc:
        if exc.status == 409:
            _adopt_or_replace(api, build_id, build.version)
        elif exc.retryable:
            raise
        else:
            fail(build_id, f"cannot create the build job: {exc.message}", statuses=(BuildStatus.CREATING,))
            return None
    image = image_name(build_config, build.algorithm_name, build.version)
    started = Build.objects.filter(build_id=build_id, status=BuildStatus.CREATING).update(
        status=BuildStatus.ACTIVE,
        progress=pod_status.PROGRESS[pod_status.Phase.WAITING],
        log=f"build {build_id}: job {job_name(build_id)} builds {image}",
        timestamp=now_ms(),
    )
    if not started:  # stopped while the Job was being created
        delete_build_job(build_id)
        return None
    return poll_seconds()


def _adopt_or_replace(api: Kube, build_id: str, version: str) -> None:
    """A Job of this name exists: ours (a redelivered start) when it builds the same version;
    otherwise a finished one of an earlier run (a rerun), deleted before ours is created."""
    existing = call(
        api.batch.read_namespaced_job, job_name(build_id), api.namespace, _request_timeout=api.request_timeout
    )
    annotations = (existing.metadata.annotations or {}) if existing.metadata else {}
    if annotations.get(naming.VERSION_ANNOTATION) == version:
        return
    delete_build_job(build_id)
    raise Retryable(f"the build job of an earlier run of {build_id} is being deleted", status=409)


def fail_creation(build_id: str, reason: str) -> None:
    """The API kept refusing to create the Job (retries exhausted)."""
    fail(build_id, f"cannot create the build job: {reason}", statuses=(BuildStatus.CREATING,))


# --- follow ----------------------------------------------------------------------------------------


def poll_build(build_id: str) -> float | None:
    """Look at the build's Job and pod once; the seconds until the next look, or None when
    the build has ended (or was stopped: its Job is deleted then)."""
    build = Build.objects.filter(build_id=build_id).first()
    if build is None:
        return None
    if build.status == BuildStatus.STOPPED:
        delete_build_job(build_id)
        return None
    if build.status != BuildStatus.ACTIVE:
        return None
    api = kube()
    try:
        job = call(
            api.batch.read_namespaced_job,
            job_name(build_id),
            api.namespace,
            _request_timeout=api.request_timeout,
        )
        pods = call(
            api.core.list_namespaced_pod,
            api.namespace,
            label_selector=f"{naming.BUILD_ID}={naming.label_value(build_id)}",
            _request_timeout=api.request_timeout,
        ).items
    except KubeError as exc:
        if exc.not_found:
            fail(build_id, "the build job was deleted before the build ended")
            return None
        if not exc.retryable:
            fail(build_id, f"cannot read the build job: {exc.message}")
            return None
        return _unless_past_deadline(build, f"cannot reach the Kubernetes API: {exc.message}")
    pod = max(pods, key=_created, default=None)
    seen = pod_status.observe(job, pod)
    text = _log_text(api, build, seen)
    if seen.phase is pod_status.Phase.FAILED:
        fail(build_id, seen.detail, log_text=f"{text}\nbuild failed: {seen.detail}")
        delete_build_job(build_id)  # an image pull failure would otherwise wait for the deadline
        return None
    if seen.phase is pod_status.Phase.SUCCEEDED:
        complete(build, seen.digest, text)
        return None
    shown = f"{text}\n({seen.detail})" if seen.detail else text
    Build.objects.filter(build_id=build_id, status=BuildStatus.ACTIVE).update(
        progress=max(build.progress, seen.progress), log=shown, timestamp=now_ms()
    )
    return _unless_past_deadline(build, seen.detail or "the build did not finish")


def _created(pod: Any) -> Any:
    return (pod.metadata.creation_timestamp or "", pod.metadata.name or "")


def _unless_past_deadline(build: Build, why: str) -> float | None:
    """Never follow a build forever: past the Job's deadline and a grace, it has failed."""
    try:
        deadline = release_settings().active_deadline_seconds
    except ReleaseConfigError:
        deadline = BuildSettings(
            release="", platform_image="", registry="", registry_namespace=""
        ).active_deadline_seconds
    if now_ms() - build.start_time > (deadline + DEADLINE_GRACE_SECONDS) * 1000:
        fail(build.build_id, f"the build did not finish within {deadline} seconds: {why}")
        delete_build_job(build.build_id)
        return None
    return poll_seconds()


def _log_text(api: Kube, build: Build, seen: pod_status.Observation) -> str:
    """The build's live log: our header line, then the init container's and the builder's."""
    header = (build.log or "").split("\n", 1)[0] or f"build {build.build_id}"
    parts = [header]
    for container, started in (
        (pod_status.PREPARE, seen.prepare_started),
        (pod_status.BUILDER, seen.builder_started),
    ):
        if not (started and seen.pod_name):
            continue
        try:
            text = call(
                api.core.read_namespaced_pod_log,
                seen.pod_name,
                api.namespace,
                container=container,
                tail_lines=LOG_TAIL_LINES,
                _request_timeout=api.request_timeout,
            )
        except KubeError as exc:
            # A log that cannot be read now is read on the next poll; the build goes on.
            parts.append(f"[{container}] (log not available yet: {exc.message})")
            continue
        parts += [f"[{container}] {line}" for line in str(text or "").splitlines()]
    return "\n".join(parts[-LOG_TAIL_LINES:])


# --- outcomes --------------------------------------------------------------------------------------


def fail(
    build_id: str,
    error: str,
    *,
    log_text: str | None = None,
    statuses: tuple[str, ...] = (BuildStatus.ACTIVE,),
) -> bool:
    fields: dict[str, Any] = {
        "status": BuildStatus.FAILED,
        "error": error,
        "version": "",
        "end_time": now_ms(),
        "timestamp": now_ms(),
    }
    if log_text is not None:
        fields["log"] = log_text
    changed = Build.objects.filter(build_id=build_id, status__in=statuses).update(**fields)
    if changed:
        log.warning("build %s failed: %s", build_id, error)
    return bool(changed)


def complete(build: Build, digest: str, log_text: str) -> None:
    """The image is pushed: the version runs it (`algorithmImage`)."""
    image = image_name(release_settings(), build.algorithm_name, build.version)
    pushed = f"image pushed: {image}" + (f" ({digest})" if digest else "")
    descriptor = {**build.algorithm, "algorithmImage": image}
    signals.complete(
        build, version=build.version, log=f"{log_text}\n{pushed}", descriptor=descriptor, image=image
    )


def delete_build_job(build_id: str) -> None:
    """Delete the build's Job and its pod; a Job already gone is fine."""
    api = kube()
    try:
        call(
            api.batch.delete_namespaced_job,
            job_name(build_id),
            api.namespace,
            propagation_policy="Background",
            _request_timeout=api.request_timeout,
        )
    except KubeError as exc:
        if not exc.not_found:
            raise
