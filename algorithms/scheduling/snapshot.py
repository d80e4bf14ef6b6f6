"""The executor's inputs and output: what `observe` reads and what `decide` plans. Plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from algorithms.resources import Budget, Holding, Resources

NO_WORK = 99  # the rank of an algorithm with nothing queued: after every priority step
# What an algorithm's work is, in HKube's placement order (hkube-cluster.md): stateful stream
# tasks, then stateless ones, then batch work.
STATEFUL, STATELESS, BATCH = 0, 1, 2


@dataclass
class Worker:
    """A registered worker as its heartbeat last described it."""

    id: str
    algorithm: str  # the registry key: the algorithm's name, or debug:<name> for a debug worker
    pid: int
    busy: bool
    last_active: float
    seen: float
    started: float
    alive: bool = True  # the launcher's view: its process (or pod) still exists
    in_flight: bool = False  # a chunk of it is recorded as running (written as the chunk starts)
    debug_for: str | None = None  # the algorithm a debug worker serves
    pending: bool = False  # its pod is created and not running yet (Kubernetes): never lost for silence


@dataclass(frozen=True)
class AlgorithmState:
    """One algorithm: what it asks for and what waits for it."""

    name: str
    request: Resources
    min_hot_workers: int = 0
    max_workers: int = 0  # 0: no cap of its own
    steps: tuple[int, ...] = ()  # queued messages per kombu priority step (HKube priority p: step p)
    waiting_since: float | None = None  # since when it has had queued work
    debug_queued: int = 0  # messages in its debug queue
    image_blocked: bool = False  # its current version's image cannot be pulled: no new workers
    work_class: int = BATCH  # STATEFUL / STATELESS: it serves a running stream job's nodes of that kind

    @property
    def depth(self) -> int:
        return sum(self.steps)

    @property
    def rank(self) -> int:
        """The lowest non-empty priority step (HKube priority 1 first), NO_WORK when idle."""
        return next((i for i, n in enumerate(self.steps) if n), NO_WORK)


@dataclass(frozen=True)
class Snapshot:
    now: float
    workers: tuple[Worker, ...]
    algorithms: dict[str, AlgorithmState]  # in the database's order
    holdings: dict[str, Holding]  # worker id -> what it was started with
    budget: Budget  # the capacity: this machine's here, the cluster's for a Kubernetes launcher
    # Per algorithm, the most one worker could ever get (the cluster's largest node it may use);
    # an algorithm not named here is bounded by the whole budget.
    limits: dict[str, Resources] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    max_workers: int  # HKUBE_MAX_WORKERS
    idle_seconds: float  # HKUBE_WORKER_IDLE_SECONDS
    heartbeat_grace: float = 15.0  # seconds without a heartbeat before a worker counts as dead
    start_grace: float = 60.0  # for a worker that has not sent its first heartbeat yet
    max_starts: int = 0  # workers started per tick at most (0: no cap; Kubernetes: creations per pass)
    assign_devices: bool = True  # set CUDA_VISIBLE_DEVICES (False on Kubernetes: the device plugin does)


@dataclass(frozen=True)
class Start:
    """A worker to start: for `algorithm`, holding `holding` (None: a debug worker, which holds
    nothing here), with `env` added to its environment (CUDA_VISIBLE_DEVICES)."""

    algorithm: str
    holding: Holding | None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def debug(self) -> bool:
        return self.holding is None


@dataclass
class Plan:
    lost: list[Worker] = field(default_factory=list)  # gone: recover their chunk, unregister them
    release: list[str] = field(default_factory=list)  # holdings of workers no longer there
    stop: list[Worker] = field(default_factory=list)
    start: list[Start] = field(default_factory=list)
    warnings: dict[str, dict[str, Any]] = field(default_factory=dict)  # failedScheduling, per algorithm
    never: dict[str, str] = field(default_factory=dict)  # algorithm -> why it can never be placed
    workers: int = 0  # ordinary workers once the plan is applied
    cpu: float = 0.0  # the cpu they hold
