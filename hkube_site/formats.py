"""The JSON-schema `format`s HKube's schemas use, and the messages that replace Ajv's for some.

Plain Python, used by `hkube_site.validation`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from croniter import croniter

from hkube_site.units import MIN_MEMORY_MI, parse_memory_mi
from hkube_site.validation_error import ValidationError


def _check_memory(value: str) -> bool:
    parse_memory_mi(value)
    return True


def _check_algorithm_memory(value: str) -> bool:
    # HKube's format function throws instead of returning false, so the message is the bare text.
    if parse_memory_mi(value) < MIN_MEMORY_MI:
        raise ValidationError(f"memory must be at least {MIN_MEMORY_MI} Mi")
    return True


_CRON_FIELD = re.compile(r"^[\w*?/,#-]+\Z", re.ASCII)


def is_valid_cron(pattern: str) -> bool:
    """True for what the `cron` package's `CronJob` accepts: 5 fields, or 6 with seconds first.

    `"0 * * * *"` (minute hour day month weekday) and `"20,40 * * * * 0,1,2"` (second minute hour
    day month weekday) are both valid.
    """
    if not isinstance(pattern, str):
        return False
    fields = pattern.split()
    if len(fields) not in (5, 6) or not all(_CRON_FIELD.match(f) for f in fields):
        return False
    return bool(croniter.is_valid(" ".join(fields), second_at_beginning=len(fields) == 6))


def _regex_format(pattern: str, flags: int = 0) -> Callable[[str], bool]:
    compiled = re.compile(pattern, flags)
    return lambda value: compiled.search(value) is not None


# JavaScript's `$` (without the m flag) only matches at the very end, hence `\Z` below.
FORMATS: dict[str, Callable[[str], bool]] = {
    "url": _regex_format(r"^(f|ht)tps?://", re.IGNORECASE),
    "cron": is_valid_cron,
    "pipeline-name": _regex_format(r"^[:\-_.A-Za-z0-9]+\Z", re.IGNORECASE),
    "experiment-name": _regex_format(r"^[:\-_.A-Za-z0-9]+\Z", re.IGNORECASE),
    # HKube's class is `[-a-z0-9\\.]`, which also admits a backslash; kept as is.
    "algorithm-name": _regex_format(r"^[a-z0-9][-a-z0-9\\.]*[a-z0-9]\Z"),
    "algorithm-image": _regex_format(r"^\S*\Z"),
    "algorithm-mount-pvc": lambda v: bool(v) and len(v) < 64 and FORMATS["algorithm-name"](v),
    "path": _regex_format(r"^([A-Za-z0-9.\\-|/])*[^\s]\1*\Z"),
    "memory": _check_memory,
    "algorithm-memory": _check_algorithm_memory,
}

# A failed format among these replaces the whole message (HKube's `wrapErrorMessageFn`).
FORMAT_MESSAGES: dict[str, str] = {
    "pipeline-name": "pipeline name must contain only alphanumeric, dash, dot or underscore",
    "algorithm-name": "algorithm name must contain only lower-case alphanumeric, dash or dot",
    "algorithm-image": "algorithm image must contain only lower-case alphanumeric, dash or dot",
    "experiment-name": "experiment name must contain only alphanumeric, dash, dot or underscore",
}
