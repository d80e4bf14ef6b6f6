"""Pure spec builders: an algorithm version and the release's settings -> one worker `V1Job`.

The pod has HKube's two containers:
- `worker`: our Celery worker for `algorithm.<name>` (the command is given, the launcher
  owns it), listening for the algorithm on `localhost:<socket_port>`, with small explicit
  requests;
- `algorunner`: the algorithm's image; it connects to `ws://localhost:<socket_port>`, so an
  image built for HKube runs unchanged.

Resources follow HKube's task-executor (`createContainerResource`): requests are `cpu` (0.1
when unset) and `mem + reservedMemory`; limits are the requests times `limit_ratio` (HKube: 2,
1 with USE_RESOURCE_LIMITS), the cpu limit left out when `applyCpuLimits` is false; whole GPUs
as `nvidia.com/gpu`, request equal to limit (a fractional gpu takes a whole device).

Placement: the descriptor's `nodeSelector` and `tolerations`; a GPU algorithm also tolerates
the usual `nvidia.com/gpu` NoSchedule taint unless its tolerations already cover it.
Security: no service-account token, non-root, no privilege escalation, all capabilities
dropped, RuntimeDefault seccomp (the descriptor's `securityContext` is merged over the
algorunner's). Plain Python: no Django, no app imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from kubernetes import client

from k8s import naming
from k8s.objects import SpecError, to_json, to_model
from k8s.quantities import GPU_RESOURCE, QuantityError, descriptor_memory_mi, format_cpu, format_memory, gpus

DEFAULT_CPU = 0.1  # HKube's request when the descriptor names none
DEFAULT_MEM = "256Mi"
METRICS_DIR = "/var/metrics"  # HKube's ALGO_METRICS_DIR, shared by both containers
JAVA_DERIVED_MEMORY_RATIO = 0.8
VALUE_FROM_KINDS = ("fieldRef", "configMapKeyRef", "resourceFieldRef", "secretKeyRef")


class AlgorithmDescriptor(TypedDict, total=False):
    """The descriptor fields a worker pod reads (HKube's algorithm JSON)."""

    name: str
    env: str
    algorithmImage: str
    entryPoint: str | None
    cpu: float
    mem: str
    reservedMemory: str | None
    gpu: float
    applyCpuLimits: bool
    workerCustomResources: dict[str, dict[str, Any]]
    algorithmEnv: dict[str, Any]
    workerEnv: dict[str, Any]
    nodeSelector: dict[str, str]
    tolerations: list[dict[str, Any]]
    labels: dict[str, str]
    annotations: dict[str, str]
    mounts: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    volumeMounts: list[dict[str, Any]]
    securityContext: dict[str, Any]


@dataclass(frozen=True)
class EnvSource:
    """A ConfigMap or Secret whose keys become environment variables (`envFrom`)."""

    kind: Literal["configMap", "secret"]
    name: str

    def model(self) -> client.V1EnvFromSource:
        if self.kind == "configMap":
            return client.V1EnvFromSource(config_map_ref=client.V1ConfigMapEnvSource(name=self.name))
        return client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name=self.name))


@dataclass(frozen=True)
class WorkerSettings:
    """The release's settings for algorithm worker pods (from the chart's values)."""

    release: str
    platform_image: str
    worker_env_from: tuple[EnvSource, ...] = ()
    algorunner_env_from: tuple[EnvSource, ...] = ()
    algorunner_env: Mapping[str, str] = field(default_factory=dict)
    worker_requests: Mapping[str, str] = field(default_factory=lambda: {"cpu": "100m", "memory": "256Mi"})
    worker_limits: Mapping[str, str] = field(default_factory=lambda: {"memory": "512Mi"})
    limit_ratio: float = 2.0
    socket_port: int = 3000
    ttl_seconds_after_finished: int = 300
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    image_pull_policy: str = "IfNotPresent"
    run_as_user: int = 1000
    gpu_tolerations: tuple[Mapping[str, str], ...] = (
        {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
    )


@dataclass(frozen=True)
class AlgorunnerResources:
    """The algorunner's requests (cpu cores, memory Mi, whole GPUs) and limits."""

    cpu: float
    mem: float
    gpu: int
    cpu_limit: float | None
    mem_limit: float
    reserved: float

    def model(self) -> client.V1ResourceRequirements:
        requests = {"cpu": format_cpu(self.cpu), "memory": format_memory(self.mem)}
        limits = {"memory": format_memory(self.mem_limit)}
        if self.cpu_limit is not None:
            limits["cpu"] = format_cpu(self.cpu_limit)
        if self.gpu:
            requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(self.gpu)
        return client.V1ResourceRequirements(requests=requests, limits=limits)


def algorunner_resources(descriptor: AlgorithmDescriptor, limit_ratio: float = 2.0) -> AlgorunnerResources:
    """HKube's algorunner requests and limits for `descriptor`."""
    name = descriptor.get("name", "?")
    try:
        mem = descriptor_memory_mi(descriptor.get("mem") or DEFAULT_MEM)
        reserved = descriptor_memory_mi(descriptor.get("reservedMemory") or 0)
        gpu = gpus(descriptor.get("gpu") or 0)
    except QuantityError as exc:
        raise SpecError(f"algorithm {name}: {exc}") from exc
    cpu = float(descriptor.get("cpu") or DEFAULT_CPU)
    request_mem = mem + reserved
    cpu_limit = None if descriptor.get("applyCpuLimits") is False else cpu * limit_ratio
    return AlgorunnerResources(cpu, request_mem, gpu, cpu_limit, request_mem * limit_ratio, reserved)


def env_vars(values: Mapping[str, Any] | None, what: str) -> list[client.V1EnvVar]:
    """`algorithmEnv`/`workerEnv`: a plain value, or `{<valueFrom kind>: {...}}` (HKube's form)."""
    result = []
    for key, value in (values or {}).items():
        if isinstance(value, Mapping):
            kind = next(iter(value), None)
            if kind not in VALUE_FROM_KINDS or len(value) != 1:
                raise SpecError(f"{what}.{key} must be a value or one of {', '.join(VALUE_FROM_KINDS)}")
            source = to_model(dict(value), "V1EnvVarSource", f"{what}.{key}")
            result.append(client.V1EnvVar(name=str(key), value_from=source))
        else:
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            result.append(client.V1EnvVar(name=str(key), value=text))
    return result


def tolerations_for(descriptor: AlgorithmDescriptor, gpu: int, settings: WorkerSettings) -> list[Any]:
    """The descriptor's tolerations, plus the GPU defaults (for GPU algorithms) it lacks."""
    given = [dict(t) for t in descriptor.get("tolerations") or []]
    if gpu:
        for default in settings.gpu_tolerations:
            covered = any(
                t.get("key") == default.get("key") and t.get("effect") in (None, "", default.get("effect"))
                for t in given
            )
            if not covered:
                given.append(dict(default))
    return [to_model(t, "V1Toleration", f"tolerations[{i}]") for i, t in enumerate(given)]


def _mounts(descriptor: AlgorithmDescriptor) -> tuple[list[Any], list[Any]]:
    """Volumes and algorunner mounts: HKube's `mounts` (`<pvcName>-<i>`), then raw ones."""
    volumes: list[Any] = []
    mounts: list[Any] = []
    for index, mount in enumerate(descriptor.get("mounts") or []):
        name = naming.job_name(f"{mount['pvcName']}-{index}")
        kind = mount.get("volumeType") or "pvc"
        sources: dict[str, dict[str, Any]] = {
            "pvc": {"persistentVolumeClaim": {"claimName": mount["pvcName"]}},
            "emptyDir": {"emptyDir": {}},
            "configMap": {"configMap": {"name": mount["pvcName"]}},
        }
        source = sources.get(kind)
        if source is None:
            raise SpecError(f"mounts[{index}].volumeType must be pvc, emptyDir or configMap, got {kind!r}")
        volumes.append(to_model({"name": name, **source}, "V1Volume", f"mounts[{index}]"))
        mounts.append(client.V1VolumeMount(name=name, mount_path=mount["path"]))
    for index, volume in enumerate(descriptor.get("volumes") or []):
        volumes.append(to_model(volume, "V1Volume", f"volumes[{index}]"))
    for index, mount in enumerate(descriptor.get("volumeMounts") or []):
        mounts.append(to_model(mount, "V1VolumeMount", f"volumeMounts[{index}]"))
    return volumes, mounts


def container_security(run_as_user: int) -> client.V1SecurityContext:
    return client.V1SecurityContext(
        run_as_non_root=True,
        run_as_user=run_as_user,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=client.V1Capabilities(drop=["ALL"]),
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
    )


def _algorunner_security(descriptor: AlgorithmDescriptor, run_as_user: int) -> Any:
    default = to_json(container_security(run_as_user))
    override = descriptor.get("securityContext") or {}
    return to_model({**default, **override}, "V1SecurityContext", "securityContext")


def _downward(name: str, path: str) -> client.V1EnvVar:
    return client.V1EnvVar(
        name=name, value_from=client.V1EnvVarSource(field_ref=client.V1ObjectFieldSelector(field_path=path))
    )


def worker_labels(release: str, algorithm: str, worker_id: str) -> dict[str, str]:
    return {
        naming.MANAGED_BY: "hkube",
        naming.RELEASE: naming.label_value(release),
        naming.COMPONENT: naming.WORKER,
        naming.ALGORITHM: naming.label_value(algorithm),
        naming.WORKER_ID: naming.label_value(worker_id),
    }


def worker_job(
    descriptor: AlgorithmDescriptor,
    *,
    worker_id: str,
    version: str,
    image: str,
    worker_command: Sequence[str],
    settings: WorkerSettings,
    hot: bool = False,
) -> client.V1Job:
    """One algorithm worker as a Job named after `worker_id`. `image` is the algorithm's image
    (its `algorithmImage`, or the one its build pushed); `worker_command` runs the Celery worker."""
    algorithm = descriptor["name"]
    resources = algorunner_resources(descriptor, settings.limit_ratio)
    labels = worker_labels(settings.release, algorithm, worker_id)
    annotations = {naming.VERSION_ANNOTATION: version}
    volumes, user_mounts = _mounts(descriptor)
    metrics = client.V1VolumeMount(name="algometrics", mount_path=METRICS_DIR)
    socket_url = f"ws://localhost:{settings.socket_port}"

    worker_env = [
        client.V1EnvVar(name="HKUBE_WORKER_ID", value=worker_id),
        client.V1EnvVar(name="HKUBE_WORKER_ALGORITHM", value=algorithm),
        client.V1EnvVar(name="HKUBE_ALGORITHM_VERSION", value=version),
        client.V1EnvVar(name="HKUBE_WORKER_SOCKET_PORT", value=str(settings.socket_port)),
        client.V1EnvVar(name="ALGO_METRICS_DIR", value=METRICS_DIR),
        _downward("POD_NAME", "metadata.name"),
        _downward("POD_ID", "metadata.uid"),
        _downward("NAMESPACE", "metadata.namespace"),
        _downward("POD_IP", "status.podIP"),
    ]
    if hot:
        worker_env.append(client.V1EnvVar(name="HOT_WORKER", value="true"))
    worker_env += env_vars(descriptor.get("workerEnv"), "workerEnv")
    custom = descriptor.get("workerCustomResources") or {}
    worker = client.V1Container(
        name="worker",
        image=settings.platform_image,
        image_pull_policy=settings.image_pull_policy,
        command=list(worker_command),
        env=_last_wins(worker_env),
        env_from=[source.model() for source in settings.worker_env_from] or None,
        resources=client.V1ResourceRequirements(
            requests={**settings.worker_requests, **_strings(custom.get("requests"))},
            limits={**settings.worker_limits, **_strings(custom.get("limits"))},
        ),
        volume_mounts=[metrics],
        security_context=container_security(settings.run_as_user),
    )

    runner_env = [
        client.V1EnvVar(name="ALGORITHM_TYPE", value=algorithm),
        client.V1EnvVar(name="ALGORITHM_ENTRY_POINT", value=descriptor.get("entryPoint") or ""),
        client.V1EnvVar(name="WORKER_SOCKET_URL", value=socket_url),
        client.V1EnvVar(name="WORKER_SOCKET_HOST", value="localhost"),
        client.V1EnvVar(name="WORKER_SOCKET_PORT", value=str(settings.socket_port)),
        client.V1EnvVar(name="ALGO_METRICS_DIR", value=METRICS_DIR),
        # HKube: the reserved memory is the wrapper's data cache size, in Mi.
        client.V1EnvVar(name="DISCOVERY_MAX_CACHE_SIZE", value=str(round(resources.reserved))),
        _downward("POD_IP", "status.podIP"),
    ]
    if descriptor.get("env") == "java":
        derived = round(JAVA_DERIVED_MEMORY_RATIO * resources.mem_limit)
        runner_env.append(client.V1EnvVar(name="JAVA_DERIVED_MEMORY", value=str(derived)))
    runner_env += [client.V1EnvVar(name=k, value=v) for k, v in sorted(settings.algorunner_env.items())]
    runner_env += env_vars(descriptor.get("algorithmEnv"), "algorithmEnv")
    algorunner = client.V1Container(
        name="algorunner",
        image=image,
        image_pull_policy=settings.image_pull_policy,
        env=_last_wins(runner_env),
        env_from=[source.model() for source in settings.algorunner_env_from] or None,
        resources=resources.model(),
        volume_mounts=[metrics, *user_mounts],
        security_context=_algorunner_security(descriptor, settings.run_as_user),
    )

    pod = client.V1PodSpec(
        restart_policy="Never",
        automount_service_account_token=False,
        enable_service_links=False,
        service_account_name=settings.service_account,
        image_pull_secrets=[client.V1LocalObjectReference(name=s) for s in settings.image_pull_secrets]
        or None,
        security_context=client.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=settings.run_as_user,
            run_as_group=settings.run_as_user,
            fs_group=settings.run_as_user,
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
        ),
        node_selector={str(k): str(v) for k, v in (descriptor.get("nodeSelector") or {}).items()} or None,
        tolerations=tolerations_for(descriptor, resources.gpu, settings) or None,
        containers=[worker, algorunner],
        volumes=[client.V1Volume(name="algometrics", empty_dir=client.V1EmptyDirVolumeSource()), *volumes],
    )
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(
            name=naming.job_name(worker_id),
            labels=naming.merged(labels, descriptor.get("labels")),
            annotations=naming.merged(annotations, descriptor.get("annotations")),
        ),
        spec=client.V1JobSpec(
            backoff_limit=0,
            ttl_seconds_after_finished=settings.ttl_seconds_after_finished,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(
                    labels=naming.merged(labels, descriptor.get("labels")),
                    annotations=naming.merged(annotations, descriptor.get("annotations")),
                ),
                spec=pod,
            ),
        ),
    )


def _strings(values: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (values or {}).items() if v not in (None, "")}


def _last_wins(variables: list[client.V1EnvVar]) -> list[client.V1EnvVar]:
    """One entry per name, the last given winning (user `algorithmEnv` over our defaults), in
    first-seen order: Kubernetes keeps duplicates and warns."""
    chosen: dict[str, client.V1EnvVar] = {}
    for variable in variables:
        chosen[variable.name] = variable  # a dict keeps the first insertion's position
    return list(chosen.values())
