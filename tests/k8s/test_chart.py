"""The Helm chart: `helm lint` and `helm template` over three values profiles, every object
validated strictly against Kubernetes 1.30 and 1.37, and what the platform relies on."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s.objects import to_json
from k8s.release import build_settings, worker_settings
from k8s.specs import worker_job

from .checks import assert_golden, validate_strict

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8s" / "chart" / "hkube"
VALUES = Path(__file__).parent / "values"
PROFILES = ("minimal", "external", "gpu")
LONG_RUNNING = ("Deployment", "StatefulSet")


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=60, check=False)


@cache
def _render(helm: Path, profile: str) -> tuple[dict[str, Any], ...]:
    result = run_helm(helm, "template", "hk", str(CHART), "--namespace", "pipelines",
                      "--values", str(VALUES / f"{profile}.yaml"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def render(helm: Path, profile: str) -> dict[str, dict[str, Any]]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in _render(helm, profile)}


def pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = document["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_passes_strictly(helm: Path, profile: str) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), "--values", str(VALUES / f"{profile}.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_every_rendered_object_validates_strictly(helm: Path, profile: str) -> None:
    objects = render(helm, profile)
    assert objects
    for document in objects.values():
        validate_strict(document)


@pytest.mark.parametrize("profile", PROFILES)
def test_rendered_chart_matches_its_golden_file(helm: Path, profile: str) -> None:
    assert_golden(f"chart-{profile}", list(_render(helm, profile)))


@pytest.mark.parametrize("profile", PROFILES)
def test_every_long_running_container_has_liveness_and_readiness_probes(helm: Path, profile: str) -> None:
    for name, document in render(helm, profile).items():
        if document["kind"] in LONG_RUNNING:
            for container in pod_spec(document)["containers"]:
                assert "livenessProbe" in container, f"{name}/{container['name']}"
                assert "readinessProbe" in container, f"{name}/{container['name']}"


def test_platform_workloads_and_their_commands(helm: Path) -> None:
    objects = render(helm, "minimal")
    commands = {
        name.split("/")[1]: pod_spec(d)["containers"][0]["command"]
        for name, d in objects.items()
        if d["kind"] == "Deployment"
    }
    assert commands["hk-hkube-api"][:2] == ["gunicorn", "hkube_site.wsgi"]
    assert commands["hk-hkube-supervisor"] == ["python", "manage.py", "k8s_supervise"]
    for queue in ("engine", "events", "builds", "control"):
        assert f"--queues={queue}" in commands[f"hk-hkube-{queue}"]
    assert "--pool=solo" in commands["hk-hkube-control"]
    assert commands["hk-hkube-beat"][2] == "beat"
    assert commands["hk-hkube-flower"][2] == "flower"
    assert "Service/hk-hkube-api" in objects and "Service/hk-hkube-flower" in objects


def test_beat_and_supervisor_never_run_twice(helm: Path) -> None:
    objects = render(helm, "minimal")
    for name in ("Deployment/hk-hkube-beat", "Deployment/hk-hkube-supervisor"):
        assert objects[name]["spec"]["replicas"] == 1
        assert objects[name]["spec"]["strategy"] == {"type": "Recreate"}


def test_migrations_are_a_hook_before_install_and_upgrade(helm: Path) -> None:
    external = render(helm, "gpu")["Job/hk-hkube-migrate"]
    annotations = external["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "manage.py migrate --noinput" in pod_spec(external)["containers"][0]["command"][2]
    # The settings it reads must exist before it: they are hooks with a lower weight.
    config = render(helm, "gpu")["ConfigMap/hk-hkube-config"]["metadata"]["annotations"]
    assert int(config["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
    # With the in-chart Postgres the database comes with the install: migrate after it.
    in_chart = render(helm, "minimal")["Job/hk-hkube-migrate"]["metadata"]["annotations"]
    assert in_chart["helm.sh/hook"] == "post-install,pre-upgrade"


def test_rbac_covers_pods_logs_events_and_jobs_and_nodes_only_when_asked(helm: Path) -> None:
    minimal = render(helm, "minimal")
    rules = {(r["apiGroups"][0], res): set(r["verbs"]) for r in minimal["Role/hk-hkube"]["rules"]
             for res in r["resources"]}  # fmt: skip
    assert {"create", "delete", "list", "watch", "patch"} <= rules[("batch", "jobs")]
    assert {"list", "watch", "delete"} <= rules[("", "pods")]
    assert rules[("", "pods/log")] == {"get"}
    assert {"list", "watch"} <= rules[("", "events")]
    assert not any(d["kind"] == "ClusterRole" for d in minimal.values())
    cluster_role = render(helm, "gpu")["ClusterRole/pipelines-hk-hkube-capacity"]
    assert {"nodes"} in [set(r["resources"]) for r in cluster_role["rules"]]


def test_only_pods_that_call_the_kubernetes_api_get_a_token(helm: Path) -> None:
    objects = render(helm, "minimal")
    with_token = {
        name.split("/")[1] for name, d in objects.items()
        if d["kind"] in LONG_RUNNING and pod_spec(d).get("automountServiceAccountToken")
    }  # fmt: skip
    assert with_token == {"hk-hkube-api", "hk-hkube-control", "hk-hkube-builds", "hk-hkube-supervisor"}


def test_in_chart_services_are_optional_and_external_ones_are_the_default(helm: Path) -> None:
    minimal = render(helm, "minimal")
    for service in ("redis", "postgres", "s3"):
        assert f"StatefulSet/hk-hkube-{service}" in minimal
        assert f"StatefulSet/hk-hkube-{service}" not in render(helm, "gpu")
    secret = minimal["Secret/hk-hkube-secret"]["stringData"]
    assert secret["DATABASE_URL"] == "postgres://hkube:pg-test-password@hk-hkube-postgres:5432/hkube"
    assert secret["REDIS_URL"] == "redis://hk-hkube-redis:6379/0"
    assert secret["S3_ENDPOINT_URL"] == "http://hk-hkube-s3:7070"
    storage = minimal["Secret/hk-hkube-storage"]["stringData"]
    assert set(storage) == {"S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_an_existing_secret_replaces_the_charts_and_ingress_is_optional(helm: Path) -> None:
    external = render(helm, "external")
    assert not any(d["kind"] == "Secret" for d in external.values())
    env_from = pod_spec(external["Deployment/hk-hkube-api"])["containers"][0]["envFrom"]
    assert {"secretRef": {"name": "hkube-platform"}} in env_from
    ingress = external["Ingress/hk-hkube-api"]["spec"]
    assert ingress["rules"][0]["host"] == "hkube.example.com"
    assert "Ingress/hk-hkube-api" not in render(helm, "minimal")


def test_worker_jobs_built_from_the_charts_config_map_are_valid(helm: Path) -> None:
    config = render(helm, "gpu")["ConfigMap/hk-hkube-config"]["data"]
    settings = worker_settings(config)
    assert settings.release == "hk"
    assert settings.limit_ratio == 1.0
    assert settings.image_pull_secrets == ("regcred",)
    assert [t["key"] for t in settings.gpu_tolerations] == ["nvidia.com/gpu", "dedicated"]
    job = to_json(worker_job(
        {"name": "trainer", "algorithmImage": "ml/trainer:1", "gpu": 1, "mem": "2Gi"},
        worker_id="trainer-abcde", version="v1", image="ml/trainer:1",
        worker_command=["celery", "-A", "hkube_site", "worker", "-Q", "algorithm.trainer"], settings=settings,
    ))  # fmt: skip
    validate_strict(job)
    assert len(job["spec"]["template"]["spec"]["tolerations"]) == 2
    assert build_settings(config) is None  # no registry in this profile: no in-cluster builds
    built = build_settings(render(helm, "external")["ConfigMap/hk-hkube-config"]["data"])
    assert built is not None and built.registry_secret == "registry-push"


def test_values_are_checked_against_the_schema(helm: Path) -> None:
    result = run_helm(helm, "template", "hk", str(CHART), "--values", str(VALUES / "gpu.yaml"),
                      "--set", "api.replicas=-1")  # fmt: skip
    assert result.returncode != 0
    assert "/api/replicas" in result.stderr


def test_a_missing_secret_setting_fails_with_what_to_set(helm: Path) -> None:
    result = run_helm(helm, "template", "hk", str(CHART))
    assert result.returncode != 0
    assert "secrets.djangoSecretKey is required" in result.stderr
