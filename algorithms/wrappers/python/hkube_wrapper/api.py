"""The ``api`` object given to ``start(args, api)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_NOT_YET = (
    "{name} is not supported by this wrapper yet (the code API for sub-algorithms and sub-pipelines "
    "is planned); run the work as pipeline nodes instead"
)


class HkubeApi:
    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self._send = send

    def progress(self, percent: float, message: str = "") -> None:
        """Report progress of the running task (0-100)."""
        self._send({"command": "progress", "data": {"progress": percent, "message": message}})

    def start_algorithm(self, name: str, input: list[Any] | None = None, includeResult: bool = True) -> Any:
        """Not supported yet: always raises NotImplementedError."""
        raise NotImplementedError(_NOT_YET.format(name="start_algorithm"))

    def start_raw_subpipeline(
        self,
        name: str,
        nodes: list[dict[str, Any]],
        flowInput: dict[str, Any],
        options: dict[str, Any] | None = None,
        webhooks: dict[str, Any] | None = None,
        includeResult: bool = True,
    ) -> Any:
        """Not supported yet: always raises NotImplementedError."""
        raise NotImplementedError(_NOT_YET.format(name="start_raw_subpipeline"))

    def start_stored_subpipeline(
        self,
        name: str,
        flowInput: dict[str, Any] | None = None,
        includeResult: bool = True,
    ) -> Any:
        """Not supported yet: always raises NotImplementedError."""
        raise NotImplementedError(_NOT_YET.format(name="start_stored_subpipeline"))
