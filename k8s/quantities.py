"""Kubernetes quantities: cpu in cores, memory in Mi, GPUs as whole devices.

Reading accepts what the API server returns (`"250m"`, `"1.5"`, `"128974848"`, `"1Gi"`,
`"1e9"`) and what HKube descriptors hold (its units converter also takes `K`). Writing gives
the short canonical forms the golden specs use (`"250m"`, `"2"`, `"307Mi"`).
Plain Python.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from kubernetes.utils.quantity import parse_quantity

GPU_RESOURCE = "nvidia.com/gpu"
MI = Decimal(2**20)


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity; the message names the value."""


def _decimal(value: str | float | int) -> Decimal:
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = str(value).strip()
    if text.endswith("K"):  # HKube's units converter: K is kilo (Kubernetes spells it k)
        text = text[:-1] + "k"
    try:
        return Decimal(parse_quantity(text))
    except (ValueError, InvalidOperation) as exc:
        raise QuantityError(f"{value!r} is not a Kubernetes quantity (such as 500m, 2, 512Mi, 1Gi)") from exc


def cpu_cores(value: str | float | int) -> float:
    """`"250m"` -> 0.25, `2` -> 2.0."""
    return float(_decimal(value))


def memory_mi(value: str | float | int) -> float:
    """A memory quantity in Mi: `"1Gi"` -> 1024. A bare number is bytes, as in Kubernetes;
    descriptors' numbers (already Mi) go through :func:`descriptor_memory_mi`."""
    return float(_decimal(value) / MI)


def descriptor_memory_mi(value: str | float | int) -> float:
    """An HKube descriptor's `mem`/`reservedMemory`: a quantity, or a number taken as Mi."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return memory_mi(value)


def gpus(value: str | float | int) -> int:
    """Whole devices: a fractional request takes a whole device (no GPU sharing here)."""
    return max(0, math.ceil(float(_decimal(value)) - 1e-9))


def format_cpu(cores: float) -> str:
    """Whole cores as `"2"`, anything else in millicores rounded up: `0.25` -> `"250m"`."""
    millis = math.ceil(round(cores * 1000, 6))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_memory(mi: float) -> str:
    """Whole Mi as `"307Mi"`, a fraction rounded up to Ki (never asks for less than meant)."""
    if abs(mi - round(mi)) < 1e-9:
        return f"{round(mi)}Mi"
    return f"{math.ceil(round(mi * 1024, 6))}Ki"
