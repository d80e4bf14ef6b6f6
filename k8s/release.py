"""The release's settings for the pods this package creates, read from the environment the
Helm chart writes into its ConfigMap (`HKUBE_K8S_*`, `HKUBE_BUILD*`).

Plain functions over a mapping (pass `os.environ`), so the chart's ConfigMap and the code that
reads it are tested together; a bad value fails loudly and names the variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from k8s.build_specs import BuildSettings
from k8s.specs import EnvSource, WorkerSettings


class ReleaseConfigError(ValueError):
    """A missing or malformed setting; the message names the variable and what it needs."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ReleaseConfigError(f"{name} must be set in Kubernetes mode (the chart's ConfigMap sets it)")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ReleaseConfigError(f"{name} must be a number, got {raw!r}") from exc


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ReleaseConfigError(f"{name} must be true or false, got {raw!r}")


def _json(env: Mapping[str, str], name: str, default: Any) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ReleaseConfigError(f"{name} must be JSON, got {raw!r}") from exc


def _names(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def worker_settings(env: Mapping[str, str]) -> WorkerSettings:
    """Settings for algorithm worker Jobs (`k8s.specs.worker_job`)."""
    resources = _json(env, "HKUBE_K8S_WORKER_RESOURCES", {})
    tolerations = _json(env, "HKUBE_K8S_GPU_TOLERATIONS", None)
    if not isinstance(resources, dict) or (tolerations is not None and not isinstance(tolerations, list)):
        raise ReleaseConfigError(
            "HKUBE_K8S_WORKER_RESOURCES must be a JSON object and HKUBE_K8S_GPU_TOLERATIONS a JSON list"
        )
    defaults = WorkerSettings(release="", platform_image="")
    return WorkerSettings(
        release=_required(env, "HKUBE_K8S_RELEASE"),
        platform_image=_required(env, "HKUBE_K8S_PLATFORM_IMAGE"),
        worker_env_from=(
            EnvSource("configMap", _required(env, "HKUBE_K8S_CONFIGMAP")),
            EnvSource("secret", _required(env, "HKUBE_K8S_SECRET")),
        ),
        algorunner_env_from=(EnvSource("secret", _required(env, "HKUBE_K8S_STORAGE_SECRET")),),
        # What HKube's wrapper needs to read and write storage itself (storage protocol v3).
        algorunner_env={
            "CLUSTER_NAME": env.get("CLUSTER_NAME", "local"),
            "DEFAULT_STORAGE": "s3",
            "STORAGE_ENCODING": env.get("STORAGE_ENCODING", "msgpack"),
        },
        worker_requests={str(k): str(v) for k, v in (resources.get("requests") or {}).items()}
        or defaults.worker_requests,
        worker_limits={str(k): str(v) for k, v in (resources.get("limits") or {}).items()}
        or defaults.worker_limits,
        limit_ratio=_number(env, "HKUBE_K8S_LIMIT_RATIO", defaults.limit_ratio),
        ttl_seconds_after_finished=int(
            _number(env, "HKUBE_K8S_WORKER_TTL_SECONDS", defaults.ttl_seconds_after_finished)
        ),
        image_pull_secrets=_names(env, "HKUBE_K8S_IMAGE_PULL_SECRETS"),
        image_pull_policy=env.get("HKUBE_K8S_IMAGE_PULL_POLICY") or defaults.image_pull_policy,
        run_as_user=int(_number(env, "HKUBE_K8S_RUN_AS_USER", defaults.run_as_user)),
        gpu_tolerations=tuple(tolerations) if tolerations is not None else defaults.gpu_tolerations,
    )


def build_settings(env: Mapping[str, str]) -> BuildSettings | None:
    """Settings for build Jobs, or None when no registry is configured (no builds in the cluster)."""
    registry = env.get("HKUBE_BUILD_REGISTRY", "").strip()
    if not registry:
        return None
    defaults = BuildSettings(release="", platform_image="", registry="", registry_namespace="")
    return BuildSettings(
        release=_required(env, "HKUBE_K8S_RELEASE"),
        platform_image=_required(env, "HKUBE_K8S_PLATFORM_IMAGE"),
        registry=registry,
        registry_namespace=_required(env, "HKUBE_BUILD_REGISTRY_NAMESPACE"),
        builder_image=env.get("HKUBE_BUILDER_IMAGE") or defaults.builder_image,
        registry_secret=env.get("HKUBE_BUILD_REGISTRY_SECRET") or None,
        insecure=_flag(env, "HKUBE_BUILD_INSECURE"),
        skip_tls_verify=_flag(env, "HKUBE_BUILD_SKIP_TLS_VERIFY"),
        env_from=(
            EnvSource("configMap", _required(env, "HKUBE_K8S_CONFIGMAP")),
            EnvSource("secret", _required(env, "HKUBE_K8S_SECRET")),
        ),
        active_deadline_seconds=int(
            _number(env, "HKUBE_BUILD_DEADLINE_SECONDS", defaults.active_deadline_seconds)
        ),
        run_as_user=int(_number(env, "HKUBE_K8S_RUN_AS_USER", defaults.run_as_user)),
        image_pull_policy=env.get("HKUBE_K8S_IMAGE_PULL_POLICY") or defaults.image_pull_policy,
    )
