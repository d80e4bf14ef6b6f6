"""Batch tolerance (HKube's `options.batchTolerance`): when do a batch's failures fail the job.

HKube checks at each failure, against the batch's total item count, and fails the job with
the failure count at the moment the failed share first reached the tolerance. Given the
failures in the order they ended, `batch_failure` reproduces that moment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# The percent of a batch's items that may fail before the job fails (the schema's default).
DEFAULT_BATCH_TOLERANCE = 80


def js_round(value: float) -> int:
    """Math.round: halves go up (Python's round() sends 4.5 to 4)."""
    return math.floor(value + 0.5)


def failed_percent(failed: int, total: int) -> int:
    """The failed share of a batch in whole percents, rounded as HKube rounds it."""
    return js_round(failed / total * 100) if total > 0 else 0


def exceeded(failed: int, total: int, tolerance: int) -> bool:
    """Has a batch with `failed` of `total` items failed reached the tolerance?"""
    return failed > 0 and failed_percent(failed, total) >= tolerance


def failure_message(failed: int, total: int, tolerance: int, error: str | None) -> str:
    """HKube's message: `450/10000 (5%) failed tasks, batch tolerance is 5%, error: ...`."""
    return (
        f"{failed}/{total} ({failed_percent(failed, total)}%) failed tasks, "
        f"batch tolerance is {tolerance}%, error: {error or 'task failed'}"
    )


def batch_failure(errors: Sequence[str | None], total: int, tolerance: int) -> str | None:
    """The job's error when the batch's failures reach the tolerance, else None.

    `errors` are the failed items' errors in the order they ended; the message names the
    count and the error of the failure that first reached the tolerance.
    """
    for seen, error in enumerate(errors, start=1):
        if exceeded(seen, total, tolerance):
            return failure_message(seen, total, tolerance, error)
    return None
