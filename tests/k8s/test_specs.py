"""Worker and build Job specs: golden files, strict schema validation, HKube's resource rules."""

from __future__ import annotations

from typing import Any

import pytest

from k8s import naming
from k8s.build_specs import BuildSettings, build_job, image_name
from k8s.objects import SpecError, to_json
from k8s.specs import AlgorithmDescriptor, EnvSource, WorkerSettings, algorunner_resources, worker_job

from .checks import assert_golden, validate_strict

SETTINGS = WorkerSettings(
    release="hkube",
    platform_image="registry.example.com/hkube/platform:1.0.0",
    worker_env_from=(EnvSource("configMap", "hkube-config"), EnvSource("secret", "hkube-secret")),
    algorunner_env_from=(EnvSource("secret", "hkube-storage"),),
    algorunner_env={"DEFAULT_STORAGE": "s3", "STORAGE_PROTOCOL": "v3"},
    image_pull_secrets=("regcred",),
)
BUILD_SETTINGS = BuildSettings(
    release="hkube",
    platform_image="registry.example.com/hkube/platform:1.0.0",
    registry="registry.example.com:5000",
    registry_namespace="algorithms",
    builder_image="registry.example.com/tools/kaniko-executor:v1.24.0",
    registry_secret="hkube-registry",
    insecure=True,
)


def command(name: str, worker_id: str) -> list[str]:
    return ["celery", "-A", "hkube_site", "worker", "-Q", f"algorithm.{name}", "-n", f"{worker_id}@%h",
            "-P", "solo", "-c", "1", "--prefetch-multiplier", "1"]  # fmt: skip


def job(descriptor: AlgorithmDescriptor, worker_id: str, **kwargs: Any) -> dict[str, Any]:
    built = worker_job(
        descriptor,
        worker_id=worker_id,
        version="v1a2b3c",
        image=descriptor.get("algorithmImage", "registry.example.com:5000/algorithms/x:v1a2b3c"),
        worker_command=command(descriptor["name"], worker_id),
        settings=SETTINGS,
        **kwargs,
    )
    data: dict[str, Any] = to_json(built)
    return data


def containers(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in data["spec"]["template"]["spec"]["containers"]}


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


CPU: AlgorithmDescriptor = {
    "name": "green-alg",
    "env": "python",
    "algorithmImage": "hkube/algorithm-example-python:v2.0.0",
    "entryPoint": "main.py",
    "cpu": 0.5,
    "mem": "256Mi",
    "reservedMemory": "52Mi",
    "algorithmEnv": {"MY_SETTING": "1", "DEFAULT_STORAGE": "fs"},
    "workerEnv": {"LOG_LEVEL": "debug"},
}
GPU: AlgorithmDescriptor = {
    "name": "trainer",
    "env": "java",
    "algorithmImage": "registry.example.com/ml/trainer:3",
    "cpu": 2,
    "mem": "4Gi",
    "reservedMemory": "512Mi",
    "gpu": 2,
    "nodeSelector": {"accelerator": "nvidia-h100"},
}
TOLERATIONS: AlgorithmDescriptor = {
    "name": "spot-alg",
    "algorithmImage": "hkube/spot:1",
    "cpu": 1,
    "mem": "1Gi",
    "applyCpuLimits": False,
    "gpu": 0.5,
    "tolerations": [
        {"key": "nvidia.com/gpu", "operator": "Exists"},
        {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoExecute", "tolerationSeconds": 60},
    ],
    "labels": {"team": "vision", naming.RELEASE: "not-ours"},
    "annotations": {"owner": "vision@example.com"},
}
VOLUMES: AlgorithmDescriptor = {
    "name": "reader",
    "algorithmImage": "hkube/reader:1",
    "mem": "512Mi",
    "mounts": [
        {"pvcName": "datasets", "path": "/data"},
        {"pvcName": "reader-config", "path": "/etc/reader", "volumeType": "configMap"},
        {"pvcName": "scratch", "path": "/scratch", "volumeType": "emptyDir"},
    ],
    "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": "models", "readOnly": True}}],
    "volumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True}],
    "algorithmEnv": {
        "TOKEN": {"secretKeyRef": {"name": "reader-secret", "key": "token"}},
        "NODE": {"fieldRef": {"fieldPath": "spec.nodeName"}},
    },
    "workerCustomResources": {"requests": {"cpu": "200m"}, "limits": {"memory": "1Gi"}},
    "securityContext": {"readOnlyRootFilesystem": True},
}


@pytest.mark.parametrize(
    ("name", "descriptor", "worker_id"),
    [
        ("worker-cpu", CPU, "green-alg-a1b2c"),
        ("worker-gpu", GPU, "trainer-x9y8z"),
        ("worker-tolerations", TOLERATIONS, "spot-alg-k2k2k"),
        ("worker-volumes", VOLUMES, "reader-q1w2e"),
    ],
)
def test_worker_job_matches_its_golden_file_and_validates_strictly(
    name: str, descriptor: AlgorithmDescriptor, worker_id: str
) -> None:
    data = job(descriptor, worker_id)
    validate_strict(data)
    assert_golden(name, data)


def test_build_job_matches_its_golden_file_and_validates_strictly() -> None:
    data = to_json(build_job(build_id="green-alg-x7y8z9", algorithm="green-alg", version="v1a2b3c",
                             settings=BUILD_SETTINGS))  # fmt: skip
    validate_strict(data)
    assert_golden("build-job", data)


def test_worker_job_has_hkube_lifecycle_and_ownership_labels() -> None:
    data = job(CPU, "green-alg-a1b2c")
    assert data["metadata"]["name"] == "green-alg-a1b2c"
    assert data["spec"]["backoffLimit"] == 0
    assert data["spec"]["ttlSecondsAfterFinished"] == 300
    pod = data["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    labels = data["spec"]["template"]["metadata"]["labels"]
    assert labels[naming.RELEASE] == "hkube"
    assert labels[naming.ALGORITHM] == "green-alg"
    assert labels[naming.WORKER_ID] == "green-alg-a1b2c"
    assert [c["name"] for c in pod["containers"]] == ["worker", "algorunner"]


def test_every_container_is_non_root_without_escalation_and_capabilities() -> None:
    pod = job(CPU, "green-alg-a1b2c")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}


def test_algorunner_requests_mem_plus_reserved_and_limits_twice_that() -> None:
    resources = containers(job(CPU, "green-alg-a1b2c"))["algorunner"]["resources"]
    assert resources["requests"] == {"cpu": "500m", "memory": "308Mi"}
    assert resources["limits"] == {"cpu": "1", "memory": "616Mi"}


def test_limit_ratio_one_is_hkubes_use_resource_limits() -> None:
    resources = algorunner_resources({"name": "a", "cpu": 1, "mem": "1Gi"}, limit_ratio=1.0)
    assert (resources.cpu_limit, resources.mem_limit) == (1.0, 1024.0)


def test_apply_cpu_limits_false_leaves_out_the_cpu_limit() -> None:
    resources = containers(job(TOLERATIONS, "spot-alg-k2k2k"))["algorunner"]["resources"]
    assert "cpu" not in resources["limits"]
    assert resources["requests"]["cpu"] == "1"


def test_defaults_are_hkubes_tenth_of_a_core_and_256mi() -> None:
    resources = algorunner_resources({"name": "a"})
    assert (resources.cpu, resources.mem, resources.gpu) == (0.1, 256.0, 0)


def test_whole_gpus_are_requested_equal_to_the_limit_and_a_fraction_takes_a_device() -> None:
    gpu = containers(job(GPU, "trainer-x9y8z"))["algorunner"]["resources"]
    assert gpu["requests"]["nvidia.com/gpu"] == gpu["limits"]["nvidia.com/gpu"] == "2"
    half = containers(job(TOLERATIONS, "spot-alg-k2k2k"))["algorunner"]["resources"]
    assert half["requests"]["nvidia.com/gpu"] == half["limits"]["nvidia.com/gpu"] == "1"
    cpu = containers(job(CPU, "green-alg-a1b2c"))["algorunner"]["resources"]
    assert "nvidia.com/gpu" not in cpu["requests"]


def test_gpu_algorithms_tolerate_the_gpu_taint_by_default_and_cpu_ones_do_not() -> None:
    gpu_pod = job(GPU, "trainer-x9y8z")["spec"]["template"]["spec"]
    assert gpu_pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert gpu_pod["nodeSelector"] == {"accelerator": "nvidia-h100"}
    assert "tolerations" not in job(CPU, "green-alg-a1b2c")["spec"]["template"]["spec"]


def test_a_toleration_of_the_gpu_taint_given_by_the_descriptor_is_not_doubled() -> None:
    tolerations = job(TOLERATIONS, "spot-alg-k2k2k")["spec"]["template"]["spec"]["tolerations"]
    assert [t["key"] for t in tolerations] == ["nvidia.com/gpu", "spot"]


def test_descriptor_labels_are_added_but_never_replace_ours() -> None:
    labels = job(TOLERATIONS, "spot-alg-k2k2k")["metadata"]["labels"]
    assert labels["team"] == "vision"
    assert labels[naming.RELEASE] == "hkube"


def test_algorithm_env_overrides_defaults_once_and_worker_env_goes_to_the_worker() -> None:
    parts = containers(job(CPU, "green-alg-a1b2c"))
    runner = parts["algorunner"]["env"]
    assert [e["name"] for e in runner].count("DEFAULT_STORAGE") == 1
    assert env(parts["algorunner"])["DEFAULT_STORAGE"] == "fs"
    assert env(parts["algorunner"])["WORKER_SOCKET_URL"] == "ws://localhost:3000"
    assert env(parts["algorunner"])["DISCOVERY_MAX_CACHE_SIZE"] == "52"
    assert env(parts["worker"])["LOG_LEVEL"] == "debug"
    assert "LOG_LEVEL" not in env(parts["algorunner"])


def test_java_algorithms_get_hkubes_derived_heap() -> None:
    # 0.8 x memory limit: (4096 + 512) Mi x 2 x 0.8
    assert env(containers(job(GPU, "trainer-x9y8z"))["algorunner"])["JAVA_DERIVED_MEMORY"] == "7373"


def test_env_value_from_becomes_a_kubernetes_value_from() -> None:
    runner = env(containers(job(VOLUMES, "reader-q1w2e"))["algorunner"])
    assert runner["TOKEN"] == {"secretKeyRef": {"name": "reader-secret", "key": "token"}}


def test_mounts_become_volumes_named_after_the_claim_and_mounted_on_the_algorunner() -> None:
    data = job(VOLUMES, "reader-q1w2e")
    volumes = {v["name"]: v for v in data["spec"]["template"]["spec"]["volumes"]}
    assert volumes["datasets-0"] == {"name": "datasets-0", "persistentVolumeClaim": {"claimName": "datasets"}}
    assert volumes["reader-config-1"]["configMap"] == {"name": "reader-config"}
    mounts = {m["name"]: m["mountPath"] for m in containers(data)["algorunner"]["volumeMounts"]}
    assert mounts == {"algometrics": "/var/metrics", "datasets-0": "/data", "reader-config-1": "/etc/reader",
                      "scratch-2": "/scratch", "models": "/models"}  # fmt: skip


def test_a_misspelt_volume_field_is_refused_with_its_path() -> None:
    descriptor: AlgorithmDescriptor = {"name": "a", "volumes": [{"name": "v", "emptyDirr": {}}]}
    with pytest.raises(SpecError, match=r"volumes\[0\]\.emptyDirr"):
        job(descriptor, "a-12345")


def test_a_value_from_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(SpecError, match=r"algorithmEnv\.X must be a value or one of"):
        job({"name": "a", "algorithmEnv": {"X": {"vaultRef": {}}}}, "a-12345")


def test_a_bad_memory_quantity_names_the_algorithm() -> None:
    with pytest.raises(SpecError, match="algorithm a: '12 parsecs' is not a Kubernetes quantity"):
        algorunner_resources({"name": "a", "mem": "12 parsecs"})


def test_job_names_are_dns_labels_short_enough_for_pod_names() -> None:
    assert naming.job_name("My_Alg.v2") == "my-alg-v2"
    assert len(naming.job_name("x" * 80)) == naming.MAX_JOB_NAME
    with pytest.raises(ValueError, match="no character usable"):
        naming.job_name("___")


def test_build_pushes_to_registry_namespace_algorithm_version_with_credentials_as_a_file() -> None:
    expected = "registry.example.com:5000/algorithms/green-alg:v1"
    assert image_name(BUILD_SETTINGS, "green-alg", "v1") == expected
    data = to_json(build_job(build_id="b1", algorithm="green-alg", version="v1", settings=BUILD_SETTINGS))
    pod = data["spec"]["template"]["spec"]
    builder = pod["containers"][0]
    assert "--destination=registry.example.com:5000/algorithms/green-alg:v1" in builder["args"]
    assert "--context=dir:///workspace" in builder["args"]
    assert not any(arg.startswith("--build-arg") for arg in builder["args"])
    credentials = {"name": "docker-config", "mountPath": "/kaniko/.docker", "readOnly": True}
    assert credentials in builder["volumeMounts"]
    secret = next(v for v in pod["volumes"] if v["name"] == "docker-config")["secret"]
    assert secret["items"] == [{"key": ".dockerconfigjson", "path": "config.json"}]
    assert pod["initContainers"][0]["command"][:4] == ["python", "manage.py", "prepare_build_context", "b1"]
    assert data["metadata"]["name"] == "build-b1"
    assert data["spec"]["activeDeadlineSeconds"] == 3600


def test_build_without_registry_secret_mounts_no_credentials() -> None:
    settings = BuildSettings(release="r", platform_image="p:1", registry="reg", registry_namespace="ns")
    data = to_json(build_job(build_id="b", algorithm="a", version="v", settings=settings))
    pod = data["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["workspace"]
    assert "--insecure" not in pod["containers"][0]["args"]
