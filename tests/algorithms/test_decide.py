"""The executor's policy as a pure function: a snapshot in, a plan out. No Redis, no database."""

from __future__ import annotations

from algorithms.resources import Budget, Holding, Resources
from algorithms.scheduling.decide import decide, lost_workers
from algorithms.scheduling.snapshot import AlgorithmState, Config, Snapshot, Start, Worker

NOW = 1_000_000.0
CONFIG = Config(max_workers=10, idle_seconds=10)
MACHINE = Budget(cpu=2, mem=8192, gpus=())


def algorithm(
    name: str,
    *,
    cpu: float = 0.1,
    mem: float = 256,
    gpu: int = 0,
    queued: int = 0,
    priority: int = 3,
    hot: int = 0,
    waiting_for: float | None = None,
    debug_queued: int = 0,
) -> AlgorithmState:
    steps = tuple(queued if step == priority else 0 for step in range(10))
    since = NOW - waiting_for if waiting_for is not None else (NOW if queued else None)
    return AlgorithmState(name, Resources(cpu, mem, gpu), hot, 0, steps, since, debug_queued)


def worker(
    worker_id: str, algorithm_name: str, *, busy: bool = False, idle_for: float = 0, **extra: object
) -> Worker:
    return Worker(worker_id, algorithm_name, 1, busy, NOW - idle_for, NOW, NOW - 100, **extra)  # type: ignore[arg-type]


def snapshot(
    *algorithms: AlgorithmState,
    workers: tuple[Worker, ...] = (),
    budget: Budget = MACHINE,
    holdings: dict[str, Holding] | None = None,
) -> Snapshot:
    return Snapshot(NOW, workers, {a.name: a for a in algorithms}, holdings or {}, budget)


def started(plan_starts: list[Start]) -> list[str]:
    return [s.algorithm for s in plan_starts]


# --- demand and slots ------------------------------------------------------------------------------


def test_queued_work_gets_workers_up_to_the_slots() -> None:
    plan = decide(snapshot(algorithm("multiply", queued=10)), Config(max_workers=3, idle_seconds=10))
    assert started(plan.start) == ["multiply"] * 3
    assert plan.workers == 3 and plan.warnings == {}


def test_nothing_queued_starts_nothing_but_hot_workers() -> None:
    plan = decide(snapshot(algorithm("cold"), algorithm("hot", hot=2)), CONFIG)
    assert started(plan.start) == ["hot", "hot"]


# --- budgets ----------------------------------------------------------------------------------------


def test_workers_start_only_while_their_cpu_fits() -> None:
    plan = decide(snapshot(algorithm("heavy", cpu=1.5, queued=5)), CONFIG)
    assert started(plan.start) == ["heavy"]
    assert plan.cpu == 1.5
    assert plan.warnings == {}  # it runs: its other tasks wait their turn


def test_memory_limits_workers_too() -> None:
    plan = decide(snapshot(algorithm("big-mem", mem=4096, queued=5)), CONFIG)
    assert started(plan.start) == ["big-mem"] * 2


def test_busy_workers_hold_their_resources_and_the_other_algorithm_is_warned() -> None:
    state = snapshot(
        algorithm("first", cpu=1.5, queued=1),
        algorithm("second", cpu=1.5, queued=1),
        workers=(worker("first-a", "first", busy=True),),
    )
    plan = decide(state, CONFIG)
    assert plan.start == []
    warning = plan.warnings["second"]
    assert warning["message"] == "Insufficient cpu (requested 1.5, available 0.5)"
    assert warning["reason"] == "failedScheduling" and not warning["isError"]


def test_a_worker_keeps_what_it_was_started_with_even_when_its_algorithm_changed() -> None:
    state = snapshot(
        algorithm("first", cpu=0.1),
        algorithm("second", cpu=1.5, queued=1),
        workers=(worker("first-a", "first", busy=True),),
        holdings={"first-a": Holding("first", Resources(1.0, 256, 0))},
    )
    plan = decide(state, CONFIG)
    assert plan.warnings["second"]["message"] == "Insufficient cpu (requested 1.5, available 1)"


def test_a_request_that_can_never_fit_fails_its_waiting_nodes() -> None:
    plan = decide(snapshot(algorithm("too-big", cpu=3, queued=1)), CONFIG)
    assert plan.start == []
    assert plan.never == {"too-big": "Maximum capacity exceeded cpu (3 > 2)"}
    assert plan.warnings["too-big"]["isError"] and plan.warnings["too-big"]["surpassTimeout"]


def test_a_request_that_can_never_fit_but_waits_for_nothing_fails_nothing() -> None:
    plan = decide(snapshot(algorithm("too-big", cpu=3, hot=1)), CONFIG)
    assert plan.never == {}
    assert plan.warnings["too-big"]["message"] == "Maximum capacity exceeded cpu (3 > 2)"


# --- priorities -------------------------------------------------------------------------------------


def test_the_highest_priority_work_goes_first_whatever_the_wait() -> None:
    state = snapshot(
        algorithm("aaa-low", cpu=1.5, queued=3, priority=5, waiting_for=300),
        algorithm("zzz-high", cpu=1.5, queued=1, priority=1),
    )
    plan = decide(state, CONFIG)
    assert started(plan.start) == ["zzz-high"]
    assert plan.warnings["aaa-low"]["message"] == "Insufficient cpu (requested 1.5, available 0.5)"


def test_equal_priorities_go_to_the_one_waiting_longest() -> None:
    state = snapshot(
        algorithm("aaa", cpu=1.5, queued=1, waiting_for=10),
        algorithm("bbb", cpu=1.5, queued=1, waiting_for=60),
    )
    assert started(decide(state, CONFIG).start) == ["bbb"]


def test_room_a_waiting_higher_priority_algorithm_needs_is_held_from_a_lower_one() -> None:
    state = snapshot(
        algorithm("busy", cpu=1.0, queued=1),
        algorithm("high", cpu=1.5, queued=1, priority=1),
        algorithm("low", cpu=0.5, queued=1, priority=5),
        workers=(worker("busy-a", "busy", busy=True),),
    )
    plan = decide(state, CONFIG)
    assert plan.start == []
    assert plan.warnings["low"]["message"] == (
        "Insufficient cpu (requested 0.5, available 0), held for higher-priority high"
    )


# --- giving way -------------------------------------------------------------------------------------


def test_idle_workers_give_way_to_an_algorithm_with_queued_work_and_no_worker() -> None:
    state = snapshot(
        algorithm("range"),
        algorithm("multiply"),
        algorithm("reduce", queued=1),
        workers=(worker("range-a", "range", idle_for=5), worker("multiply-a", "multiply", idle_for=1)),
    )
    plan = decide(state, Config(max_workers=2, idle_seconds=10))
    assert [w.id for w in plan.stop] == ["range-a"]  # the one idle the longest
    assert started(plan.start) == ["reduce"]


def test_idle_workers_give_way_to_another_replica_of_a_stream_node() -> None:
    # A stream node's replica keeps its worker for the job's life: the next one must not wait
    # for a worker of its algorithm to come free (batch work with a worker does wait).
    from dataclasses import replace

    from algorithms.scheduling.snapshot import STATELESS

    relay = replace(algorithm("relay", queued=1), work_class=STATELESS)
    state = snapshot(
        relay,
        algorithm("echo"),
        workers=(worker("relay-a", "relay", busy=True), worker("echo-a", "echo", idle_for=1)),
    )
    plan = decide(state, Config(max_workers=2, idle_seconds=10))
    assert [w.id for w in plan.stop] == ["echo-a"]
    assert started(plan.start) == ["relay"]

    batch = snapshot(
        algorithm("multiply", queued=1),
        algorithm("echo"),
        workers=(worker("multiply-a", "multiply", busy=True), worker("echo-a", "echo", idle_for=1)),
    )
    assert decide(batch, Config(max_workers=2, idle_seconds=10)).stop == []


def test_busy_in_flight_and_hot_workers_are_not_evicted() -> None:
    state = snapshot(
        algorithm("range", hot=1),
        algorithm("multiply"),
        algorithm("sum"),
        algorithm("reduce", queued=1),
        workers=(
            worker("range-a", "range", idle_for=50),
            worker("multiply-a", "multiply", busy=True),
            worker("sum-a", "sum", in_flight=True),  # its heartbeat is older than its chunk
        ),
    )
    plan = decide(state, Config(max_workers=3, idle_seconds=100))
    assert plan.stop == [] and plan.start == []
    assert plan.warnings["reduce"]["message"].startswith("Insufficient workers")


def test_an_idle_worker_of_higher_priority_work_is_not_taken() -> None:
    state = snapshot(
        algorithm("high", cpu=1.5, queued=2, priority=1),
        algorithm("low", cpu=1.5, queued=1, priority=5),
        workers=(worker("high-a", "high", idle_for=1),),
    )
    plan = decide(state, CONFIG)
    assert plan.stop == [] and plan.start == []


# --- idle stop --------------------------------------------------------------------------------------


def test_idle_workers_stop_after_the_idle_time_but_hot_ones_stay() -> None:
    state = snapshot(
        algorithm("cold"),
        algorithm("hot", hot=1),
        workers=(
            worker("cold-a", "cold", idle_for=60),
            worker("cold-b", "cold", idle_for=5),
            worker("hot-a", "hot", idle_for=60),
        ),
    )
    plan = decide(state, CONFIG)
    assert [w.id for w in plan.stop] == ["cold-a"]


def test_workers_of_a_deleted_algorithm_stop_and_their_holdings_of_gone_workers_are_released() -> None:
    state = snapshot(
        workers=(worker("old-a", "old", busy=True),),
        holdings={"gone-a": Holding("x", Resources(1, 1, 0))},
    )
    plan = decide(state, CONFIG)
    assert [w.id for w in plan.stop] == ["old-a"]
    assert plan.release == ["gone-a"]


# --- GPUs -------------------------------------------------------------------------------------------


def test_gpu_workers_get_their_own_devices() -> None:
    state = snapshot(
        algorithm("trainer", gpu=1, queued=5),
        algorithm("plain", queued=1),
        budget=Budget(2, 8192, ("0", "1")),
    )
    plan = decide(state, CONFIG)
    envs = {s.algorithm + str(i): s.env for i, s in enumerate(plan.start)}
    assert [s.env for s in plan.start if s.algorithm == "trainer"] == [
        {"CUDA_VISIBLE_DEVICES": "0"},
        {"CUDA_VISIBLE_DEVICES": "1"},
    ]
    assert [s.env for s in plan.start if s.algorithm == "plain"] == [{}]
    assert len(envs) == 3 and plan.warnings == {}


def test_a_device_held_by_a_running_worker_is_not_given_again() -> None:
    state = snapshot(
        algorithm("pair", gpu=2, queued=3),
        workers=(worker("pair-a", "pair", busy=True),),
        holdings={"pair-a": Holding("pair", Resources(0.1, 256, 2), ("4", "5"))},
        budget=Budget(2, 8192, ("4", "5", "6", "7")),
    )
    plan = decide(state, CONFIG)
    assert [s.env for s in plan.start] == [{"CUDA_VISIBLE_DEVICES": "6,7"}]
    assert plan.start[0].holding == Holding("pair", Resources(0.1, 256, 2), ("6", "7"))


def test_more_gpus_than_the_machine_has_never_fit() -> None:
    plan = decide(snapshot(algorithm("greedy", gpu=3, queued=1), budget=Budget(2, 8192, ("0", "1"))), CONFIG)
    assert plan.start == []
    assert plan.never == {"greedy": "Maximum capacity exceeded gpu (3 > 2)"}


# --- lost workers and debug workers -----------------------------------------------------------------


def test_workers_without_a_heartbeat_or_a_process_are_lost() -> None:
    quiet = Worker("quiet", "a", 1, False, NOW, NOW - 20, NOW - 100)
    starting = Worker("starting", "a", 1, False, NOW, NOW - 20, NOW - 30)  # still in its start grace
    dead = Worker("dead", "a", 1, False, NOW, NOW, NOW - 100, alive=False)
    fine = Worker("fine", "a", 1, False, NOW, NOW, NOW - 100)
    state = snapshot(algorithm("a"), workers=(quiet, starting, dead, fine))
    assert [w.id for w in lost_workers(state, CONFIG)] == ["quiet", "dead"]
    plan = decide(state, CONFIG)
    assert [w.id for w in plan.lost] == ["quiet", "dead"]
    assert plan.workers == 2


def test_one_debug_worker_per_algorithm_with_queued_debug_tasks_holding_nothing() -> None:
    state = snapshot(
        algorithm("debugged", cpu=3, debug_queued=2),  # would never fit as an ordinary worker
        algorithm("served", debug_queued=1),
        algorithm("idle"),
        workers=(
            worker("dbg-served", "debug:served", debug_for="served"),
            worker("dbg-idle", "debug:idle", idle_for=60, debug_for="idle"),
            worker("dbg-gone", "debug:deleted", debug_for="deleted"),
        ),
    )
    plan = decide(state, CONFIG)
    assert [(s.algorithm, s.debug) for s in plan.start] == [("debugged", True)]
    assert [w.id for w in plan.stop] == ["dbg-idle", "dbg-gone"]
    assert plan.workers == 0 and plan.warnings == {}


# --- stream work first (hkube-cluster.md: stateful, then stateless, then batch) ------------------


def test_stateful_before_stateless_before_batch() -> None:
    from dataclasses import replace

    from algorithms.scheduling.snapshot import STATEFUL, STATELESS

    batch = algorithm("batch", queued=1, priority=1, waiting_for=100, cpu=0.9)
    stateless = replace(algorithm("relay", queued=1, priority=5, cpu=0.9), work_class=STATELESS)
    stateful = replace(algorithm("source", queued=1, priority=5, cpu=0.9), work_class=STATEFUL)
    plan = decide(snapshot(batch, stateless, stateful), CONFIG)
    assert started(plan.start) == ["source", "relay"]  # 2 cpus: the batch work waits
    assert "batch" in plan.warnings


def test_work_class_matters_only_with_queued_work() -> None:
    from dataclasses import replace

    from algorithms.scheduling.snapshot import STATEFUL

    idle_stream = replace(algorithm("source", hot=1, cpu=1.5), work_class=STATEFUL)
    plan = decide(snapshot(idle_stream, algorithm("batch", queued=1, cpu=1.5)), CONFIG)
    assert started(plan.start) == ["batch"]
