"""The executor's view in the admin: per algorithm its queue depth, its workers and their
states, and why it is not scheduled; read at request time from Redis (the executor's
registry and kombu's lists) and the algorithm rows. Reads only."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from algorithms import resources
from algorithms.models import Algorithm
from algorithms.scheduling import observe
from algorithms.scheduling.snapshot import Worker


@dataclass
class WorkerRow:
    id: str
    pid: int
    state: str
    idle_seconds: int


@dataclass
class AlgorithmRow:
    name: str
    queued: int
    reason: str
    workers: list[WorkerRow] = field(default_factory=list)

    @property
    def busy(self) -> int:
        return sum(1 for w in self.workers if w.state == "busy")


def _worker_row(worker: Worker, now: float) -> WorkerRow:
    state = "busy" if worker.busy else "idle"
    return WorkerRow(worker.id, worker.pid, state, max(0, int(now - (worker.last_active or now))))


def board() -> list[AlgorithmRow]:
    now = time.time()
    reasons = resources.unscheduled_reasons()
    workers = observe.registered_workers()
    rows = []
    for name in Algorithm.objects.order_by("name").values_list("name", flat=True):
        mine = [_worker_row(w, now) for w in workers if w.algorithm == name or w.debug_for == name]
        rows.append(AlgorithmRow(name, observe.queue_depth(name), reasons.get(name, ""), mine))
    return rows


def render_board(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    return TemplateResponse(request, "admin/algorithms/executor.html", {**context, "rows": board()})
