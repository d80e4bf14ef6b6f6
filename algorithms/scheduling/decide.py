"""`decide(snapshot, config) -> Plan`: the executor's whole policy, with no I/O.

Demand is the number of queued messages per algorithm plus its busy workers; supply is bounded
by the worker slots and the cpu/mem/gpu budget: a worker holds what it was started with while it
runs. Algorithms are served in HKube's order: queued stateful stream tasks, then stateless
stream tasks, then batch work (`AlgorithmState.work_class`); within each, priority order (their
highest-priority queued work, then one with no worker before one that has some, then the longest
waiting); one that cannot get a worker gets HKube's `failedScheduling` warning, and one whose
request can never fit fails its waiting nodes (`Snapshot.limits`: on Kubernetes, the largest
node it may use). GPU workers get their own devices (CUDA_VISIBLE_DEVICES, unless
`assign_devices` is off). At most `max_starts` workers start per tick, and a worker whose pod is
still pending is never lost. Idle workers beyond `minHotWorkers` stop after `idle_seconds`, and
give way to an algorithm that has queued work and no worker, or queued stream work (a replica
keeps its worker for the job's life). Debug workers hold nothing and are
planned apart: one per algorithm with queued debug tasks.
"""

from __future__ import annotations

import math
from dataclasses import replace

from algorithms import resources
from algorithms.resources import Holding, Ledger
from algorithms.scheduling.snapshot import (
    BATCH,
    NO_WORK,
    AlgorithmState,
    Config,
    Plan,
    Snapshot,
    Start,
    Worker,
)


def lost_workers(snapshot: Snapshot, config: Config) -> list[Worker]:
    """Workers without a recent heartbeat (a longer grace while they start), or whose process
    the launcher no longer finds."""
    now = snapshot.now
    lost = []
    for worker in snapshot.workers:
        if worker.pending and worker.alive:
            continue  # a pod waiting for room or pulling its image: the cluster holds it
        grace = config.start_grace if now - worker.started < config.start_grace else config.heartbeat_grace
        if now - worker.seen > grace or not worker.alive:
            lost.append(worker)
    return lost


def decide(snapshot: Snapshot, config: Config) -> Plan:
    plan = Plan(lost=lost_workers(snapshot, config))
    gone = {w.id for w in plan.lost}
    present = [w for w in snapshot.workers if w.id not in gone]
    debug_workers = [w for w in present if w.debug_for is not None]
    # A heartbeat is up to 2 s old; the in-flight record is written as a chunk starts, so a
    # worker that has just taken a message is never taken for idle (stopped, or its room
    # given to another algorithm, while it runs).
    workers = [_with_in_flight(w) for w in present if w.debug_for is None]
    _place(snapshot, config, workers, plan)
    _plan_debug_workers(snapshot, config, debug_workers, plan)
    return plan


def _with_in_flight(worker: Worker) -> Worker:
    return replace(worker, busy=True) if worker.in_flight and not worker.busy else worker


def _place(snapshot: Snapshot, config: Config, workers: list[Worker], plan: Plan) -> None:
    algorithms = snapshot.algorithms
    now = snapshot.now
    by_algorithm: dict[str, list[Worker]] = {}
    for worker in workers:
        by_algorithm.setdefault(worker.algorithm, []).append(worker)

    # What each worker holds: what it was started with, or (started before holdings were
    # kept) its algorithm's request. Holdings of workers that are gone free their devices.
    held = snapshot.holdings
    ids = {w.id for w in workers}
    plan.release = [worker_id for worker_id in held if worker_id not in ids]

    def holding_of(worker: Worker) -> Holding:
        state = algorithms.get(worker.algorithm)
        request = state.request if state is not None else resources.request_of({})
        return held.get(worker.id) or Holding(worker.algorithm, request)

    ledger = Ledger(snapshot.budget, config.max_workers)
    for worker in workers:
        ledger.add(holding_of(worker))

    def rank(name: str) -> int:
        state = algorithms.get(name)
        return state.rank if state is not None else NO_WORK

    def hot(name: str) -> int:
        state = algorithms.get(name)
        return state.min_hot_workers if state is not None else 0

    def since(state: AlgorithmState) -> float:
        return state.waiting_since if state.waiting_since is not None else now

    def work_class(state: AlgorithmState) -> int:
        return state.work_class if state.depth else BATCH

    order = sorted(
        algorithms.values(),
        key=lambda a: (work_class(a), a.rank, bool(by_algorithm.get(a.name)), since(a), a.name),
    )
    stopped: set[str] = set()

    def stop(worker: Worker) -> None:
        ledger.remove(holding_of(worker))
        stopped.add(worker.id)
        plan.stop.append(worker)

    def reclaim(for_algorithm: str) -> bool:
        """Stop one idle worker of an algorithm with nothing queued, or with lower-priority
        work only, to make room.

        Workers stay warm while there is room; when another algorithm is waiting they give
        way, those with nothing queued first, oldest idle first, never below `minHotWorkers`."""
        candidates = [
            w
            for w in workers
            if w.algorithm != for_algorithm
            and not w.busy
            and w.id not in stopped
            and rank(w.algorithm) > rank(for_algorithm)
            and sum(1 for x in by_algorithm[w.algorithm] if x.id not in stopped) > hot(w.algorithm)
        ]
        if not candidates:
            return False
        stop(min(candidates, key=lambda w: (-rank(w.algorithm), w.last_active)))
        return True

    for state in order:
        name, depth, request = state.name, state.depth, state.request
        mine = [w for w in by_algorithm.get(name, []) if w.id not in stopped]
        cap = state.max_workers or ledger.max_workers
        if state.image_blocked:  # none until its version changes (the Kubernetes supervisor's mark)
            cap = min(cap, len(mine))
        wanted = min(cap, max(state.min_hot_workers, depth + sum(1 for w in mine if w.busy)))
        most = snapshot.limits.get(name, ledger.budget.total)
        over = resources.over_capacity(request, most) if len(mine) < wanted else None
        if over:
            plan.warnings[name] = resources.unscheduled_warning(name, over, request, is_error=True, now=now)
            if depth and not mine:
                plan.never[name] = over
        while not over and len(mine) < wanted:
            if config.max_starts and len(plan.start) >= config.max_starts:
                break  # the rest next tick
            problem = ledger.problem(request)
            # Evict warm workers of other algorithms only for an algorithm that has none, or
            # for stream work: each replica of a stream node is a task that keeps its worker
            # for the job's life, so it would wait for a worker that never comes free.
            while problem and depth and (not mine or work_class(state) < BATCH) and reclaim(name):
                problem = ledger.problem(request)
            if problem:
                if not mine:
                    plan.warnings[name] = resources.unscheduled_warning(
                        name, problem, request, is_error=False, now=now
                    )
                    if depth:
                        ledger.reserve(name, request)
                break
            devices = ledger.take_devices(request.gpu)
            env = {"CUDA_VISIBLE_DEVICES": ",".join(devices)} if request.gpu and config.assign_devices else {}
            holding = Holding(name, request, devices)
            ledger.add(holding)
            plan.start.append(Start(name, holding, env))
            mine.append(Worker(f"(new {name} {len(plan.start)})", name, 0, False, now, now, now))
        idle = sorted(
            (w for w in mine if not w.busy and now - w.last_active > config.idle_seconds),
            key=lambda w: w.last_active,
        )
        surplus = len(mine) - max(state.min_hot_workers, wanted)
        for worker in idle[: max(0, surplus)]:
            stop(worker)

    for worker in workers:
        if worker.algorithm not in algorithms and worker.id not in stopped:  # deleted algorithm
            stop(worker)
    plan.workers = ledger.workers
    plan.cpu = math.floor(ledger.used.cpu * 100) / 100


def _plan_debug_workers(snapshot: Snapshot, config: Config, workers: list[Worker], plan: Plan) -> None:
    """One debug worker per algorithm that has debug tasks queued; idle ones stop after
    `idle_seconds`, those of deleted algorithms at once."""
    mine: dict[str, list[Worker]] = {}
    for worker in workers:
        mine.setdefault(worker.debug_for or "", []).append(worker)
    for name, state in snapshot.algorithms.items():
        present = mine.pop(name, [])
        if state.debug_queued and not present:
            plan.start.append(Start(name, None))
        elif not state.debug_queued:
            plan.stop += [
                w for w in present if not w.busy and snapshot.now - w.last_active > config.idle_seconds
            ]
    plan.stop += [w for gone in mine.values() for w in gone]  # their algorithm was deleted
