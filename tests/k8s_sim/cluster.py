"""The whole system in Kubernetes mode on the simulated cluster: the e2e harness's processes
(real Redis, a real database, gunicorn, the engine/control/builds/events workers, beat) with
`HKUBE_LAUNCHER=kubernetes` and a kubeconfig that points at the fake API, S3 storage on a moto
server and no storage folder, `manage.py k8s_supervise` beside them, and the kubelet simulator
running the worker pods. The release's ConfigMap and Secrets (what the chart would create) are
written into the fake API; the pods' containers read their settings from them only.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from algorithms.runtime.wrappers import wrapper_launch
from hkube_site.supervisor import Child
from tests.e2e.harness import ROOT, Cluster, running_cluster
from tests.k8s.fakeapi import FakeApi
from tests.k8s_sim.kubelet import Image, Kubelet
from tests.k8s_sim.scheduler import node_object
from tests.storage.s3_server import S3_KEYS, moto_server, s3_env

NAMESPACE = "hkube"
RELEASE = "sim"
PLATFORM_IMAGE = "hkube/platform:sim"
CLUSTER_NAME = "k8ssim"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
# What the chart's ConfigMap gives the platform's own processes and nothing else.
HOST_ONLY = ("HKUBE_HOME", "HOME", "KUBECONFIG")


def code_image(language: str, code: Path) -> Image:
    """An algorithm image: our wrapper for `language` over the code baked into it at `code`."""

    def command(env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        return wrapper_launch(language, code, env.get("ALGORITHM_ENTRY_POINT") or None)

    return Image(command=command)


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sim",
                "clusters": [{"name": "sim", "cluster": {"server": server}}],
                "users": [{"name": "sim", "user": {"token": "sim-token"}}],
                "contexts": [
                    {"name": "sim", "context": {"cluster": "sim", "user": "sim", "namespace": NAMESPACE}}
                ],
            }
        )
    )
    return path


def release_env(config: Path) -> dict[str, str]:
    """The chart's settings for the platform's processes (`k8s/release.py`'s names)."""
    return {
        "HKUBE_LAUNCHER": "kubernetes",
        "KUBECONFIG": str(config),
        "HKUBE_K8S_NAMESPACE": NAMESPACE,
        "HKUBE_K8S_RELEASE": RELEASE,
        "HKUBE_K8S_PLATFORM_IMAGE": PLATFORM_IMAGE,
        "HKUBE_K8S_CONFIGMAP": f"{RELEASE}-config",
        "HKUBE_K8S_SECRET": f"{RELEASE}-secret",
        "HKUBE_K8S_STORAGE_SECRET": f"{RELEASE}-storage",
        "HKUBE_K8S_IMAGE_PULL_POLICY": "IfNotPresent",
        "HKUBE_K8S_WORKER_RESOURCES": '{"requests": {"cpu": "100m", "memory": "128Mi"}}',
        "HKUBE_SCHEDULING_WARNING_SECONDS": "1",
        "HKUBE_SUPERVISOR_RESYNC_SECONDS": "10",
        "CLUSTER_NAME": CLUSTER_NAME,
        # No storage folder in common: S3 only (a folder nobody could write to).
        "BASE_FS_ADAPTER_DIRECTORY": "/dev/null/storage",
    }


@dataclass
class SimCluster:
    hkube: Cluster
    api: FakeApi
    kubelet: Kubelet
    supervisor: Child
    endpoint: str

    def jobs_created(self, algorithm: str) -> int:
        """Worker Jobs created for `algorithm` (every POST, whatever became of it)."""
        return len(
            [
                r
                for r in self.api.calls("POST", "/jobs")
                if ((r.body or {}).get("metadata", {}).get("labels") or {}).get("hkube.io/algorithm")
                == algorithm
            ]
        )

    def restart_supervisor(self) -> None:
        assert self.hkube.supervisor is not None
        self.hkube.supervisor._stop([self.supervisor], 15)
        self.supervisor = self.hkube.supervisor.start("k8s-supervisor", supervisor_args())

    def logs(self) -> str:
        """What a failed test prints: the platform's logs, the pods, their containers' logs."""
        parts = [f"--- {name} ---\n{self.hkube.logs(name)[-2500:]}" for name in ("control", "k8s-supervisor")]
        for pod in self.api.objects_of("pods", NAMESPACE):
            name = pod["metadata"]["name"]
            parts.append(f"--- pod {name}: {json.dumps(pod.get('status'))[:600]}")
            for container in ("worker", "algorunner"):
                parts.append(f"  [{container}] {self.kubelet.log_of(name, container)[-800:]}")
        return "\n".join(parts)


def supervisor_args() -> list[str]:
    return [sys.executable, "manage.py", "k8s_supervise", "--lease", "6"]


def publish_release(api: FakeApi, hkube: Cluster, endpoint: str) -> None:
    """The chart's ConfigMap and Secrets, as the pods' containers read them (envFrom)."""
    data = {k: v for k, v in hkube.env.items() if k not in HOST_ONLY}
    api.put("configmaps", {"metadata": {"name": f"{RELEASE}-config"}, "data": data}, NAMESPACE)
    api.put("secrets", {"metadata": {"name": f"{RELEASE}-secret"}, "stringData": {}}, NAMESPACE)
    storage = {**s3_env(endpoint), "AWS_REGION": S3_KEYS["region"]}
    api.put("secrets", {"metadata": {"name": f"{RELEASE}-storage"}, "stringData": storage}, NAMESPACE)


def simulated_nodes(api: FakeApi) -> None:
    """Two CPU nodes and a tainted pool of one 2-GPU node."""
    api.put("nodes", node_object("cpu-a", "4", "8Gi"), None)
    api.put("nodes", node_object("cpu-b", "4", "8Gi"), None)
    api.put("nodes", node_object("gpu-a", "8", "32Gi", gpu=2, taints=[GPU_TAINT]), None)


@contextlib.contextmanager
def simulated_cluster(home: Path, images: dict[str, Image]) -> Iterator[SimCluster]:
    with moto_server() as endpoint, FakeApi() as api:
        simulated_nodes(api)
        env = {
            **s3_env(endpoint),
            **release_env(kubeconfig(home.parent / f"{home.name}.kubeconfig", api.url)),
        }
        home.mkdir(parents=True, exist_ok=True)
        with running_cluster(home, **env) as hkube:
            publish_release(api, hkube, endpoint)
            kubelet = Kubelet(api, NAMESPACE, {PLATFORM_IMAGE: Image(cwd=ROOT), **images}, home / "pods")
            kubelet.start()
            assert hkube.supervisor is not None
            supervisor = hkube.supervisor.start("k8s-supervisor", supervisor_args())
            try:
                yield SimCluster(hkube, api, kubelet, supervisor, endpoint)
            finally:
                kubelet.stop()  # the pods' processes
                # Workers registered before their first heartbeat have pid 0: the harness's
                # killpg(0) would kill this test process's own group.
                hkube.redis().delete("hkube:workers")
