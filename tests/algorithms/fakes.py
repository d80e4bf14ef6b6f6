"""The executor's test doubles: the launcher faked at its seam, and the fixtures' call shapes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from algorithms.launcher import Handle, Launcher


@dataclass
class FakeLauncher:
    """Records what the executor asked for; every worker it started is alive."""

    started: list[str] = field(default_factory=list)
    envs: dict[str, dict[str, str]] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)

    def start(self, algorithm_name: str, env: Mapping[str, str] | None = None) -> Handle:
        self.started.append(algorithm_name)
        worker_id = f"{algorithm_name}-new{len(self.started)}"
        self.envs[worker_id] = dict(env or {})
        return Handle(worker_id, 100000 + len(self.started))

    def stop(self, worker_id: str, pid: int) -> None:
        self.stopped.append(worker_id)

    def alive(self, worker_id: str, pid: int) -> bool:
        return True


_: type[Launcher] = FakeLauncher  # it stays a Launcher


class AddAlgorithm(Protocol):
    def __call__(self, name: str, **descriptor: object) -> None: ...


class AddWorker(Protocol):
    def __call__(
        self, worker_id: str, algorithm_name: str, *, busy: bool = ..., idle_for: float = ...
    ) -> None: ...


class Enqueue(Protocol):
    def __call__(self, algorithm_name: str, messages: int, priority: int = ...) -> None: ...
