"""Plain Celery doing the numbers pipeline's work: range -> one multiply per element -> reduce.

The fan-out happens inside a worker (a task that replaces itself with a chord), the
way Celery's docs recommend, so the baseline is Celery at its best.
"""

from __future__ import annotations

import os

from celery import Celery, chord

app = Celery("plain", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
app.conf.update(
    task_serializer="msgpack",
    result_serializer="msgpack",
    accept_content=["msgpack", "json"],
    task_default_queue="plain",
    worker_prefetch_multiplier=1,
    task_acks_late=True,
)


@app.task(name="plain.range")
def range_task(n: int) -> list[int]:
    return list(range(1, n + 1))


@app.task(name="plain.multiply")
def multiply(x: int, mul: int) -> int:
    return x * mul


@app.task(name="plain.reduce")
def reduce_task(values: list[int]) -> int:
    return sum(v for v in values if v is not None)


@app.task(name="plain.fanout", bind=True)
def fanout(self: object, items: list[int], mul: int) -> object:
    return self.replace(chord([multiply.s(x, mul) for x in items], reduce_task.s()))  # type: ignore[attr-defined]


def numbers(n: int, mul: int) -> object:
    return (range_task.s(n) | fanout.s(mul)).apply_async()
