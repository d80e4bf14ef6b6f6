"""Reading the release's settings from the environment the chart writes, and the heartbeat."""

from __future__ import annotations

from pathlib import Path

import pytest

from k8s import heartbeat
from k8s.release import ReleaseConfigError, build_settings, worker_settings
from k8s.specs import EnvSource

ENV = {
    "HKUBE_K8S_RELEASE": "hk",
    "HKUBE_K8S_PLATFORM_IMAGE": "reg/platform:1",
    "HKUBE_K8S_CONFIGMAP": "hk-config",
    "HKUBE_K8S_SECRET": "hk-secret",
    "HKUBE_K8S_STORAGE_SECRET": "hk-storage",
    "CLUSTER_NAME": "prod",
}


def test_worker_settings_take_defaults_for_what_is_not_set() -> None:
    settings = worker_settings(ENV)
    assert settings.worker_env_from == (EnvSource("configMap", "hk-config"), EnvSource("secret", "hk-secret"))
    assert settings.algorunner_env_from == (EnvSource("secret", "hk-storage"),)
    assert settings.algorunner_env["CLUSTER_NAME"] == "prod"
    assert (settings.limit_ratio, settings.ttl_seconds_after_finished) == (2.0, 300)
    assert settings.gpu_tolerations[0]["key"] == "nvidia.com/gpu"


def test_worker_resources_and_tolerations_are_json() -> None:
    settings = worker_settings({
        **ENV, "HKUBE_K8S_WORKER_RESOURCES": '{"requests": {"cpu": "200m"}, "limits": {"memory": "1Gi"}}',
        "HKUBE_K8S_GPU_TOLERATIONS": "[]",
    })  # fmt: skip
    assert settings.worker_requests == {"cpu": "200m"}
    assert settings.worker_limits == {"memory": "1Gi"}
    assert settings.gpu_tolerations == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [({"HKUBE_K8S_RELEASE": ""}, "HKUBE_K8S_RELEASE must be set"),
     ({"HKUBE_K8S_LIMIT_RATIO": "double"}, "HKUBE_K8S_LIMIT_RATIO must be a number"),
     ({"HKUBE_K8S_GPU_TOLERATIONS": "{nope"}, "HKUBE_K8S_GPU_TOLERATIONS must be JSON"),
     ({"HKUBE_K8S_WORKER_RESOURCES": "[]"}, "must be a JSON object")],
)  # fmt: skip
def test_bad_settings_fail_loudly_with_the_variable(change: dict[str, str], message: str) -> None:
    with pytest.raises(ReleaseConfigError, match=message):
        worker_settings({**ENV, **change})


def test_builds_are_off_without_a_registry_and_flags_are_strict() -> None:
    assert build_settings(ENV) is None
    env = {**ENV, "HKUBE_BUILD_REGISTRY": "reg:5000", "HKUBE_BUILD_REGISTRY_NAMESPACE": "algs",
           "HKUBE_BUILD_INSECURE": "true"}  # fmt: skip
    settings = build_settings(env)
    assert settings is not None
    assert (settings.registry, settings.insecure, settings.skip_tls_verify) == ("reg:5000", True, False)
    with pytest.raises(ReleaseConfigError, match="HKUBE_BUILD_INSECURE must be true or false"):
        build_settings({**env, "HKUBE_BUILD_INSECURE": "maybe"})


def test_heartbeat_is_fresh_only_while_recently_touched(tmp_path: Path) -> None:
    path = tmp_path / "run" / "alive"
    assert not heartbeat.fresh(path, 60)
    heartbeat.touch(path)
    assert heartbeat.fresh(path, 60)
    assert not heartbeat.fresh(path, 60, now=path.stat().st_mtime + 61)
    assert heartbeat.main([str(path), "60"]) == 0
    assert heartbeat.main([str(tmp_path / "missing"), "60"]) == 1
    assert heartbeat.main([]) == 2
