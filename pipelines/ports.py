"""What pipelines needs from the algorithms layer, as one small named interface.

`pipelines` sits below `algorithms` (algorithms -> builds -> pipelines) and never imports it.
Where the engine must know about algorithms (do they exist, their current versions, which
queue a node's messages go to, waking the executor, debug workers, scheduling warnings,
algorithms' state types, creating a stream job's gateway algorithms),
it asks the `AlgorithmDirectory` registered here. The algorithms app registers its
implementation (`algorithms/directory.py`) in `AlgorithmsConfig.ready()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypedDict

from pipelines.taskspec import TaskSpec


class DebugNode(TypedDict):
    """A job's debug node and where a developer connects to serve it (None: not listening yet)."""

    nodeName: str
    algorithmName: str
    url: str | None


class AlgorithmDirectory(Protocol):
    def existing(self, names: Iterable[str]) -> set[str]:
        """The names among `names` of algorithms that exist."""
        ...

    def current_versions(self, names: Iterable[str]) -> dict[str, str]:
        """Algorithm name -> its current version, for those that exist."""
        ...

    def download_extensions(self, names: Iterable[str]) -> dict[str, str]:
        """Algorithm name -> the file extension of its downloaded results (`downloadFileExt`)."""
        ...

    def route(self, spec: TaskSpec) -> tuple[str, str]:
        """(queue, worker key) of a node's messages: `algorithm.<name>`, or a debug queue."""
        ...

    def wake(self, worker_key: str) -> None:
        """Work was sent to these workers: have the executor start one if none is alive."""
        ...

    def debug_nodes(self, pipeline: dict[str, Any]) -> list[DebugNode]:
        """A job's debug nodes and where to connect them (costs nothing without any)."""
        ...

    def debug_info(self, algorithm_name: str) -> dict[str, Any] | None:
        """`{algorithmName, url, workerId, since}` while a debug worker listens, else None."""
        ...

    def scheduling_warnings(self, now_ms: int) -> dict[str, str]:
        """Algorithm -> why it cannot get a worker, once old enough to show (`failedScheduling`)."""
        ...

    def state_types(self, names: Iterable[str]) -> dict[str, str]:
        """Algorithm name -> its `stateType` (stateful|stateless), for those that set one."""
        ...

    def create_gateway(
        self, *, gateway_name: str, url: str, job_id: str, node_name: str, spec: dict[str, Any]
    ) -> str:
        """Create the `<gateway_name>-gateway` algorithm a stream job's gateway node runs; its
        name. Raises `InvalidData` (`gateway <name> already exists`, or the descriptor's schema)."""
        ...

    def delete_gateways(self, names: Iterable[str]) -> None:
        """Remove these gateway algorithms (kind gateway only) once their job has ended."""
        ...


_directory: AlgorithmDirectory | None = None


def register(directory: AlgorithmDirectory) -> None:
    """Install the algorithms layer's directory (its AppConfig.ready() does, once per process)."""
    global _directory
    _directory = directory


def get() -> AlgorithmDirectory:
    """The registered directory; without the algorithms app installed there is none."""
    if _directory is None:
        raise RuntimeError("no AlgorithmDirectory registered: is the algorithms app in INSTALLED_APPS?")
    return _directory
