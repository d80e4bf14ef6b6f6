"""The algorithms layer's side of `pipelines.ports.AlgorithmDirectory`.

Registered in `AlgorithmsConfig.ready()`; pipelines asks through `pipelines.ports.get()`
and never imports this app.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from algorithms import debug, resources, services
from algorithms.models import Algorithm
from algorithms.tasks import poke_executor
from pipelines.ports import DebugNode
from pipelines.taskspec import TaskSpec


class Directory:
    def existing(self, names: Iterable[str]) -> set[str]:
        return set(Algorithm.objects.filter(name__in=list(names)).values_list("name", flat=True))

    def current_versions(self, names: Iterable[str]) -> dict[str, str]:
        return dict(Algorithm.objects.filter(name__in=list(names)).values_list("name", "version"))

    def download_extensions(self, names: Iterable[str]) -> dict[str, str]:
        return {
            a.name: (a.descriptor or {}).get("downloadFileExt") or "hkube"
            for a in Algorithm.objects.filter(name__in=list(names))
        }

    def route(self, spec: TaskSpec) -> tuple[str, str]:
        return debug.route(spec)

    def wake(self, worker_key: str) -> None:
        poke_executor(worker_key)

    def debug_nodes(self, pipeline: dict[str, Any]) -> list[DebugNode]:
        return debug.job_debug_nodes(pipeline)

    def debug_info(self, algorithm_name: str) -> dict[str, Any] | None:
        return debug.debug_info(algorithm_name)

    def scheduling_warnings(self, now_ms: int) -> dict[str, str]:
        return resources.scheduling_warnings(now_ms)

    def state_types(self, names: Iterable[str]) -> dict[str, str]:
        return {
            a.name: str(a.descriptor["stateType"])
            for a in Algorithm.objects.filter(name__in=list(names))
            if (a.descriptor or {}).get("stateType")
        }

    def create_gateway(
        self, *, gateway_name: str, url: str, job_id: str, node_name: str, spec: dict[str, Any]
    ) -> str:
        return services.create_gateway(
            gateway_name=gateway_name, url=url, job_id=job_id, node_name=node_name, spec=spec
        )

    def delete_gateways(self, names: Iterable[str]) -> None:
        services.delete_gateways(names)
