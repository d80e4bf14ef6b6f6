"""What the executor may spend, what an algorithm asks for, and why an algorithm waits.

The budget is the machine's (cores from the cgroup quota or the cpu count, memory from
/proc/meminfo or the cgroup limit, GPUs from `nvidia-smi`) unless the settings give one:
`HKUBE_CPU_BUDGET`, `HKUBE_MEM_BUDGET` (a Kubernetes quantity), `HKUBE_GPU_BUDGET` or
`HKUBE_GPUS` (device ids). An algorithm's request is what HKube's task-executor asks of
Kubernetes: `cpu`, `mem` + `reservedMemory`, and `gpu` whole devices.

Three small Redis documents live here, next to the worker registry:
- holdings: per worker, the resources and GPU device ids it was started with, so the
  executor counts what a worker holds even after its algorithm's descriptor changed, and
  frees its devices when it stops;
- waiting: per algorithm, since when it has had queued work (the tie-breaker between
  equal priorities: the one waiting longest goes first);
- unscheduled: per algorithm that cannot get a worker, HKube's warning (code 1002,
  `failedScheduling`), read by `store/algorithms` (`unscheduledReason`), `exec/status` and
  the job graph.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from hkube_site import redis_client as rc
from hkube_site.units import parse_memory_mi
from hkube_site.validation import ValidationError

log = logging.getLogger(__name__)


DEFAULT_CPU = 0.1  # HKube's request when an algorithm names none
DEFAULT_MEM_MI = 4.0
RESOURCE_WARNING_CODE = 1002
EPSILON = 1e-9


# --- amounts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """cpu in cores, mem in Mi, gpu in whole devices."""

    cpu: float = 0.0
    mem: float = 0.0
    gpu: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.mem + other.mem, self.gpu + other.gpu)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu - other.cpu, self.mem - other.mem, self.gpu - other.gpu)

    def as_api(self) -> dict[str, Any]:
        """HKube's `requestedResources` (memory in Mi)."""
        return {"cpu": round(self.cpu, 3), "memory": round(self.mem, 3), "gpu": self.gpu}


@dataclass(frozen=True)
class Budget:
    cpu: float
    mem: float
    gpus: tuple[str, ...]

    @property
    def total(self) -> Resources:
        return Resources(self.cpu, self.mem, len(self.gpus))


def request_of(descriptor: dict[str, Any]) -> Resources:
    """An algorithm's request: HKube's algorunner requests (`mem` + `reservedMemory`).

    A fractional `gpu` takes a whole device: local processes cannot share one by fraction."""
    cpu = float(descriptor.get("cpu") or DEFAULT_CPU)
    mem = _memory(descriptor.get("mem"), DEFAULT_MEM_MI) + _memory(descriptor.get("reservedMemory"), 0.0)
    gpu = math.ceil(float(descriptor.get("gpu") or 0) - EPSILON)
    return Resources(cpu, mem, max(0, gpu))


def _memory(value: Any, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        return parse_memory_mi(value)
    except ValidationError:
        return default  # stored descriptors were validated; an old one counts as the default


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _number(value: float) -> str:
    return f"{round(value, 2):g}"


# --- the machine ----------------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _cgroup_v2_dir() -> str:
    # "0::/some/path" in /proc/self/cgroup; inside a container it is usually "/".
    for line in (_read("/proc/self/cgroup") or "").splitlines():
        if line.startswith("0::"):
            return "/sys/fs/cgroup" + line[3:].rstrip("/")
    return "/sys/fs/cgroup"


@lru_cache(maxsize=1)
def machine_cpus() -> float:
    """Cores this process may use: the cgroup cpu quota if there is one, else the cpus it
    is allowed to run on."""
    cores = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    quota: float | None = None
    v2 = _read(_cgroup_v2_dir() + "/cpu.max") or _read("/sys/fs/cgroup/cpu.max")
    if v2:
        limit, _, period = v2.strip().partition(" ")
        if limit != "max" and period:
            quota = int(limit) / int(period)
    else:
        limit_v1 = _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        period_v1 = _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
        if limit_v1 and period_v1 and int(limit_v1) > 0:
            quota = int(limit_v1) / int(period_v1)
    return min(cores, quota) if quota else cores


@lru_cache(maxsize=1)
def machine_memory_mi() -> float:
    """MemTotal, or the cgroup memory limit when it is lower."""
    total = 0.0
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) / 1024  # kB
    for path in (_cgroup_v2_dir() + "/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        raw = (_read(path) or "").strip()
        if raw.isdigit():
            limit = int(raw) / 2**20
            if total == 0 or limit < total:
                total = limit
            break
    return total


@lru_cache(maxsize=1)
def machine_gpus() -> tuple[str, ...]:
    """Device ids from `nvidia-smi`, none when it is missing or fails."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return ()
    try:
        out = subprocess.run(
            [binary, "--query-gpu=index,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi failed, counting no GPUs: %s", exc)
        return ()
    return tuple(line.split(",")[0].strip() for line in out.splitlines() if line.strip())


def budget() -> Budget:
    """The configured budget, the machine's for what is not configured."""
    cpu = float(settings.HKUBE_CPU_BUDGET) or machine_cpus()
    mem_setting = str(settings.HKUBE_MEM_BUDGET or "")
    try:
        mem = parse_memory_mi(mem_setting) if mem_setting else machine_memory_mi()
    except ValidationError as exc:
        raise ImproperlyConfigured(
            f"HKUBE_MEM_BUDGET must be a memory quantity such as 8Gi, got {mem_setting!r}"
        ) from exc
    listed = tuple(settings.HKUBE_GPUS)
    count = int(settings.HKUBE_GPU_BUDGET)
    if listed:
        gpus = listed[:count] if count >= 0 else listed
    elif count >= 0:
        found = machine_gpus()
        gpus = found[:count] if len(found) >= count else tuple(str(i) for i in range(count))
    else:
        gpus = machine_gpus()
    return Budget(cpu, mem, gpus)


# --- why a request does not fit ---------------------------------------------------------------------


def over_capacity(request: Resources, total: Resources) -> str | None:
    """HKube's `Maximum capacity exceeded cpu (2)`, with the amounts: the request can never
    fit, however many workers stop."""
    parts = []
    if request.cpu > total.cpu + EPSILON:
        parts.append(f"cpu ({_number(request.cpu)} > {_number(total.cpu)})")
    if request.mem > total.mem + EPSILON:
        parts.append(f"mem ({_number(request.mem)}Mi > {_number(total.mem)}Mi)")
    if request.gpu > total.gpu:
        parts.append(f"gpu ({request.gpu} > {total.gpu})")
    return "Maximum capacity exceeded " + ", ".join(parts) if parts else None


def insufficient(request: Resources, free: Resources) -> str | None:
    """HKube's `Insufficient cpu`, with the amounts: other workers hold what is missing."""
    parts = []
    if request.cpu > free.cpu + EPSILON:
        parts.append(f"cpu (requested {_number(request.cpu)}, available {_number(max(0.0, free.cpu))})")
    if request.mem > free.mem + EPSILON:
        parts.append(f"mem (requested {_number(request.mem)}Mi, available {_number(max(0.0, free.mem))}Mi)")
    if request.gpu > free.gpu:
        parts.append(f"gpu (requested {request.gpu}, available {max(0, free.gpu)})")
    return "Insufficient " + ", ".join(parts) if parts else None


def never_fits_error(algorithm_name: str, message: str) -> str:
    """A waiting node's error when its algorithm can never be placed (HKube's isError)."""
    return (
        f"{message}: algorithm {algorithm_name} asks for more than this machine's budget; lower its "
        "cpu/mem/gpu, or raise HKUBE_CPU_BUDGET / HKUBE_MEM_BUDGET / HKUBE_GPUS"
    )


# --- one reconcile tick's accounting ----------------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    """What one worker was started with: its request and its GPU device ids."""

    algorithm: str
    resources: Resources
    devices: tuple[str, ...] = ()


@dataclass
class Ledger:
    """What the workers hold against the budget, while one reconcile tick places workers.

    `reserve` keeps a blocked request's resources from algorithms ranked after it: while a
    higher-priority algorithm waits for room, lower ones do not take the room that frees up."""

    budget: Budget
    max_workers: int
    used: Resources = field(default_factory=Resources)
    reserved: Resources = field(default_factory=Resources)
    reserved_for: list[str] = field(default_factory=list)
    workers: int = 0
    devices: set[str] = field(default_factory=set)

    def add(self, holding: Holding) -> None:
        self.used += Resources(holding.resources.cpu, holding.resources.mem, 0)
        self.devices.update(holding.devices)
        self.workers += 1

    def remove(self, holding: Holding) -> None:
        self.used -= Resources(holding.resources.cpu, holding.resources.mem, 0)
        self.devices.difference_update(holding.devices)
        self.workers -= 1

    def free(self) -> Resources:
        gpus = sum(1 for d in self.budget.gpus if d not in self.devices)
        return Resources(self.budget.cpu - self.used.cpu, self.budget.mem - self.used.mem, gpus)

    def problem(self, request: Resources) -> str | None:
        """Why `request` cannot start now, or None when it fits."""
        if self.workers >= self.max_workers:
            return f"Insufficient workers: all {self.max_workers} worker slots are in use (HKUBE_MAX_WORKERS)"
        free = self.free()
        message = insufficient(request, free)
        if message is None and self.reserved_for:
            message = insufficient(request, free - self.reserved)
            if message is not None:
                message += ", held for higher-priority " + ", ".join(self.reserved_for)
        return message

    def reserve(self, algorithm_name: str, request: Resources) -> None:
        self.reserved += request
        self.reserved_for.append(algorithm_name)

    def take_devices(self, count: int) -> tuple[str, ...]:
        """`count` free device ids, in the budget's order, marked as used."""
        taken = tuple([d for d in self.budget.gpus if d not in self.devices][:count])
        self.devices.update(taken)
        return taken


# --- holdings: what each running worker was started with --------------------------------------------


def holdings() -> dict[str, Holding]:
    found = {}
    for key, raw in rc.client().hgetall(rc.HOLDINGS_KEY).items():
        data = json.loads(raw)
        found[_text(key)] = Holding(
            data["algorithm"],
            Resources(float(data["cpu"]), float(data["mem"]), int(data["gpu"])),
            tuple(data.get("devices") or ()),
        )
    return found


def hold(worker_id: str, holding: Holding) -> None:
    record = {"algorithm": holding.algorithm, **asdict(holding.resources), "devices": list(holding.devices)}
    rc.client().hset(rc.HOLDINGS_KEY, worker_id, json.dumps(record))


def release(*worker_ids: str) -> None:
    if worker_ids:
        rc.client().hdel(rc.HOLDINGS_KEY, *worker_ids)


def release_all() -> None:
    rc.client().delete(rc.HOLDINGS_KEY)


# --- waiting since ------------------------------------------------------------------------------------


def track_waiting(waiting: set[str], now: float) -> dict[str, float]:
    """Since when each algorithm in `waiting` has had queued work (kept across ticks);
    algorithms no longer waiting are forgotten."""
    client = rc.client()
    known = {_text(k): float(v) for k, v in client.hgetall(rc.WAITING_KEY).items()}
    pipe = client.pipeline()
    for name in waiting - known.keys():
        pipe.hsetnx(rc.WAITING_KEY, name, now)
        known[name] = now
    gone = [name for name in known if name not in waiting]
    if gone:
        pipe.hdel(rc.WAITING_KEY, *gone)
    pipe.execute()
    return {name: since for name, since in known.items() if name in waiting}


# --- unscheduled warnings -------------------------------------------------------------------------------


def unscheduled_warning(
    algorithm_name: str, message: str, request: Resources, *, is_error: bool, now: float
) -> dict[str, Any]:
    """HKube's warning object (`utils/warningCreator.js`), with `since`: when it was first seen."""
    stamp = int(now * 1000)
    return {
        "algorithmName": algorithm_name,
        "type": "warning",
        "reason": "failedScheduling",
        "code": RESOURCE_WARNING_CODE,
        "message": message,
        "isError": is_error,
        "surpassTimeout": is_error,
        "requestedResources": request.as_api(),
        "timestamp": stamp,
        "since": stamp,
    }


def save_unscheduled(warnings: dict[str, dict[str, Any]]) -> None:
    """Replace the set of warnings; an algorithm still warned keeps its first `since`."""
    client = rc.client()
    previous = _warnings(rc.UNSCHEDULED_KEY)
    for name, warning in warnings.items():
        if name in previous:
            warning["since"] = previous[name].get("since", warning["since"])
    if not warnings and not previous:
        return
    pipe = client.pipeline()  # MULTI: readers never see the hash half-written
    pipe.delete(rc.UNSCHEDULED_KEY)
    if warnings:
        pipe.hset(rc.UNSCHEDULED_KEY, mapping={k: json.dumps(v) for k, v in warnings.items()})
    pipe.execute()


def unscheduled() -> dict[str, dict[str, Any]]:
    """The executor's warnings, and (Kubernetes mode) the supervisor's for pods the scheduler
    refused; the executor's own win."""
    return {**_warnings(rc.K8S_UNSCHEDULED_KEY), **_warnings(rc.UNSCHEDULED_KEY)}


def _warnings(key: str) -> dict[str, dict[str, Any]]:
    return {_text(k): json.loads(v) for k, v in rc.client().hgetall(key).items()}


def unscheduled_reasons() -> dict[str, str]:
    """Algorithm -> `unscheduledReason` for `store/algorithms`. The list must not fail when
    Redis is unreachable: the field is left out then (and the failure logged)."""
    try:
        return {name: warning["message"] for name, warning in unscheduled().items()}
    except redis.RedisError as exc:
        log.warning("unscheduled reasons unavailable: %s", exc)
        return {}


def scheduling_warnings(now_ms: int) -> dict[str, str]:
    """Algorithm -> message, for the warnings a waiting node shows (`failedScheduling`): those
    older than HKUBE_SCHEDULING_WARNING_SECONDS, or at once when the request can never fit
    (HKube's pipeline-driver waits 60 s, `surpassTimeout` skips the wait)."""
    delay_ms = float(settings.HKUBE_SCHEDULING_WARNING_SECONDS) * 1000
    return {
        name: warning["message"]
        for name, warning in unscheduled().items()
        if warning.get("surpassTimeout") or now_ms - int(warning.get("since") or 0) >= delay_ms
    }
