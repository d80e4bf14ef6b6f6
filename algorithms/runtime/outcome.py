"""How a task or an algorithm process ended: the values a session returns and raises."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

TaskStatus = Literal["done", "error", "crashed", "stopped", "timeout"]
EventHandler = Callable[[dict[str, Any]], object]


@dataclass(slots=True)
class TaskOutcome:
    """How one task ended.

    ``result`` is the inline value of ``done`` (storage v1); ``storing`` is the ``storing`` payload,
    the pointer to the result the wrapper wrote itself (storage v3). ``error`` is ``{code, message}``
    for 'error', 'crashed' and 'timeout'.
    """

    status: TaskStatus
    result: Any = None
    storing: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    duration: float = 0.0


class AlgorithmStartError(RuntimeError):
    """The algorithm process could not be started or never connected."""

    def __init__(self, message: str, exit_code: int | None = None, stderr_tail: Sequence[str] = ()) -> None:
        self.exit_code = exit_code
        self.stderr_tail = list(stderr_tail)
        if self.stderr_tail:
            message = message + "\nlast lines of stderr:\n" + "\n".join(self.stderr_tail)
        super().__init__(message)


def describe_exit(returncode: int) -> str:
    """``algorithm process exited with code -9 (SIGKILL)``."""
    text = f"algorithm process exited with code {returncode}"
    if returncode < 0:
        with contextlib.suppress(ValueError):  # not a known signal number
            text += f" ({signal.Signals(-returncode).name})"
    return text
