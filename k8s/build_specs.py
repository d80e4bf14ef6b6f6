"""Pure spec builder for a build: one `build-<buildId>` Job that pushes the algorithm's image.

- An init container (the platform image) runs `manage.py prepare_build_context` to write the
  generated build context (Dockerfile, our wrapper, the user's code) into an emptyDir.
- The builder container runs a kaniko-compatible image (configurable: upstream kaniko was
  archived in 2025) with `--context dir:///workspace` and pushes
  `<registry>/<namespace>/<algorithm>:<version>`; the image digest goes to the termination
  log, where the supervisor reads it.
- Registry credentials are a `kubernetes.io/dockerconfigjson` Secret mounted as
  `/kaniko/.docker/config.json`, never build args (those stay in the image's history).

kaniko unpacks base images as root, so the builder is the one container that runs as root;
it is still unprivileged and cannot escalate. Plain Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kubernetes import client

from k8s import naming
from k8s.specs import EnvSource, container_security

WORKSPACE = "/workspace"
DOCKER_CONFIG_DIR = "/kaniko/.docker"


@dataclass(frozen=True)
class BuildSettings:
    """The release's settings for build Jobs (from the chart's values)."""

    release: str
    platform_image: str
    registry: str
    registry_namespace: str
    builder_image: str = "gcr.io/kaniko-project/executor:v1.24.0"
    registry_secret: str | None = None  # a kubernetes.io/dockerconfigjson Secret
    insecure: bool = False  # plain HTTP registry
    skip_tls_verify: bool = False
    env_from: tuple[EnvSource, ...] = ()
    builder_requests: Mapping[str, str] = field(default_factory=lambda: {"cpu": "1", "memory": "1Gi"})
    builder_limits: Mapping[str, str] = field(default_factory=lambda: {"memory": "4Gi"})
    active_deadline_seconds: int = 3600
    ttl_seconds_after_finished: int = 300
    run_as_user: int = 1000
    image_pull_policy: str = "IfNotPresent"


def image_name(settings: BuildSettings, algorithm: str, version: str) -> str:
    """`<registry>/<namespace>/<algorithm>:<version>`, where the build pushes and workers pull."""
    return f"{settings.registry.rstrip('/')}/{settings.registry_namespace.strip('/')}/{algorithm}:{version}"


def build_labels(release: str, algorithm: str, build_id: str) -> dict[str, str]:
    return {
        naming.MANAGED_BY: "hkube",
        naming.RELEASE: naming.label_value(release),
        naming.COMPONENT: naming.BUILD,
        naming.ALGORITHM: naming.label_value(algorithm),
        naming.BUILD_ID: naming.label_value(build_id),
    }


def builder_args(settings: BuildSettings, destination: str) -> list[str]:
    args = [
        f"--dockerfile={WORKSPACE}/Dockerfile",
        f"--context=dir://{WORKSPACE}",
        f"--destination={destination}",
        "--digest-file=/dev/termination-log",
    ]
    if settings.insecure:
        args += ["--insecure", "--insecure-pull"]
    if settings.skip_tls_verify:
        args += ["--skip-tls-verify", "--skip-tls-verify-pull"]
    return args


def build_job(*, build_id: str, algorithm: str, version: str, settings: BuildSettings) -> client.V1Job:
    """The Job that builds `algorithm` at `version` from build `build_id`'s uploaded code."""
    labels = build_labels(settings.release, algorithm, build_id)
    destination = image_name(settings, algorithm, version)
    workspace = client.V1VolumeMount(name="workspace", mount_path=WORKSPACE)
    env_from = [source.model() for source in settings.env_from] or None
    prepare = client.V1Container(
        name="prepare",
        image=settings.platform_image,
        image_pull_policy=settings.image_pull_policy,
        command=["python", "manage.py", "prepare_build_context", build_id, "--output", WORKSPACE],
        env_from=env_from,
        resources=client.V1ResourceRequirements(
            requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "1Gi"}
        ),
        volume_mounts=[workspace],
        security_context=container_security(settings.run_as_user),
    )
    mounts = [workspace]
    volumes = [client.V1Volume(name="workspace", empty_dir=client.V1EmptyDirVolumeSource())]
    if settings.registry_secret:
        mounts.append(
            client.V1VolumeMount(name="docker-config", mount_path=DOCKER_CONFIG_DIR, read_only=True)
        )
        volumes.append(
            client.V1Volume(
                name="docker-config",
                secret=client.V1SecretVolumeSource(
                    secret_name=settings.registry_secret,
                    items=[client.V1KeyToPath(key=".dockerconfigjson", path="config.json")],
                ),
            )
        )
    builder = client.V1Container(
        name="builder",
        image=settings.builder_image,
        image_pull_policy=settings.image_pull_policy,
        args=builder_args(settings, destination),
        env=[client.V1EnvVar(name="DOCKER_CONFIG", value=DOCKER_CONFIG_DIR)],
        resources=client.V1ResourceRequirements(
            requests=dict(settings.builder_requests), limits=dict(settings.builder_limits)
        ),
        volume_mounts=mounts,
        termination_message_policy="FallbackToLogsOnError",
        security_context=client.V1SecurityContext(
            run_as_user=0, run_as_non_root=False, allow_privilege_escalation=False, privileged=False
        ),
    )
    pod = client.V1PodSpec(
        restart_policy="Never",
        automount_service_account_token=False,
        enable_service_links=False,
        security_context=client.V1PodSecurityContext(
            fs_group=settings.run_as_user, seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")
        ),
        init_containers=[prepare],
        containers=[builder],
        volumes=volumes,
    )
    metadata = client.V1ObjectMeta(
        labels=labels, annotations={naming.VERSION_ANNOTATION: version, "hkube.io/image": destination}
    )
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(
            name=naming.job_name(f"build-{build_id}"), labels=labels, annotations=metadata.annotations
        ),
        spec=client.V1JobSpec(
            backoff_limit=0,  # a failed build is reported, not silently rebuilt (HKube: 4)
            active_deadline_seconds=settings.active_deadline_seconds,
            ttl_seconds_after_finished=settings.ttl_seconds_after_finished,
            template=client.V1PodTemplateSpec(metadata=metadata, spec=pod),
        ),
    )
