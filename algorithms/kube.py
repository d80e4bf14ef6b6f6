"""The algorithms side of Kubernetes mode: the launcher built from the settings, and what a
worker Job runs (the current version's descriptor, its image, the worker's command).

The k8s package is plain Python; this module hands it Django's settings, the release's
`HKUBE_K8S_*` environment (`k8s.release`) and the database's algorithm versions.
"""

from __future__ import annotations

import os

from django.conf import settings

from algorithms.launcher import worker_command
from algorithms.models import Algorithm, AlgorithmVersion
from algorithms.resources import Resources
from k8s import release
from k8s.build_specs import image_name
from k8s.capacity import amounts
from k8s.client import ClientSettings, Fatal, connect
from k8s.launcher import KubernetesLauncher, WorkerTemplate
from k8s.specs import WorkerSettings


def worker_settings() -> WorkerSettings:
    return release.worker_settings(os.environ)


def worker_request(worker: WorkerSettings) -> Resources:
    """The worker container's requests: every worker pod asks for them besides the algorithm's."""
    found = amounts(worker.worker_requests)
    return Resources(found.cpu, found.mem, 0)


def template(algorithm_name: str, worker_id: str) -> WorkerTemplate:
    """The current version of `algorithm_name`: its descriptor, its image (`algorithmImage`, or
    where its build pushed) and the command of the pod's worker container."""
    algorithm = Algorithm.objects.filter(name=algorithm_name).first()
    if algorithm is None:
        raise Fatal(f"algorithm {algorithm_name} does not exist")
    found = AlgorithmVersion.objects.filter(algorithm_name=algorithm_name, version=algorithm.version).first()
    descriptor = dict(found.descriptor if found is not None else algorithm.descriptor)
    descriptor["name"] = algorithm_name
    image = str(descriptor.get("algorithmImage") or "")
    if not image:
        builds = release.build_settings(os.environ)
        if builds is None or found is None:
            raise Fatal(
                f"algorithm {algorithm_name} has no image to run: apply it with algorithmImage, or "
                "configure a registry for builds (HKUBE_BUILD_REGISTRY)"
            )
        image = image_name(builds, algorithm_name, algorithm.version)
    command = ["python", *worker_command(algorithm_name, worker_id)[1:]]
    return WorkerTemplate(descriptor, algorithm.version, image, command)  # type: ignore[arg-type]


def launcher() -> KubernetesLauncher:
    kube = connect(ClientSettings(namespace=str(settings.HKUBE_K8S_NAMESPACE) or None))
    return KubernetesLauncher(
        kube, worker_settings(), template, read_nodes=bool(settings.HKUBE_K8S_READ_NODES)
    )
