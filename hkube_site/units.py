"""Kubernetes quantities as HKube reads them (`@hkube/units-converter`): memory in Mi.

Plain Python. A bad quantity raises `ValidationError` with HKube's message, so the schema's
`memory` formats and the callers that read stored descriptors answer the same way.
"""

from __future__ import annotations

import re

from hkube_site.validation_error import ValidationError

__all__ = ["MEMORY_UNITS", "MIN_MEMORY_MI", "parse_memory_mi"]

MIN_MEMORY_MI = 4
MEMORY_UNITS = ("Ki", "M", "Mi", "Gi", "m", "K", "G", "T", "Ti")
_MEMORY_FACTORS: dict[str, float] = {
    "Ki": 2.0**10,
    "M": 1e6,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "m": 1e-3,
    "K": 1e3,
    "G": 1e9,
    "T": 1e12,
    "Ti": 2.0**40,
}
_MEMORY_UNIT_MESSAGE = f"memory unit must be one of {','.join(MEMORY_UNITS)}"
# parse-unit: the unit is whatever follows the leading run of digits, dots and signs.
_UNIT_SPLIT = re.compile(r"[\d.\-+]*\s*(.*)", re.DOTALL)
_JS_FLOAT_PREFIX = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")


def parse_memory_mi(value: str | float) -> float:
    """A Kubernetes memory quantity in Mi, like `@hkube/units-converter`'s `getMemoryInMi`.

    `"512Mi"` -> 512, `"1.5Gi"` -> 1536, `"500Ki"` -> 0.48828125. A number is taken as Mi already.
    A missing or unknown unit raises `memory unit must be one of Ki,M,Mi,Gi,m,K,G,T,Ti`.
    """
    if isinstance(value, bool):
        raise ValidationError(_MEMORY_UNIT_MESSAGE)
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    match = _UNIT_SPLIT.match(text)
    unit = match.group(1) if match else ""
    number = _JS_FLOAT_PREFIX.match(text)
    if not unit or unit not in _MEMORY_FACTORS or number is None:
        raise ValidationError(_MEMORY_UNIT_MESSAGE)
    amount = float(number.group(1))
    if amount < 0:
        raise ValidationError("value must be >= 0")
    return amount * _MEMORY_FACTORS[unit] / 2.0**20
