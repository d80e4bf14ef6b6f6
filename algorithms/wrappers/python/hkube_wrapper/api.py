"""The ``api`` object given to ``start(args, api)``.

Sub-pipelines (HKube's code API): ``start_raw_subpipeline`` / ``start_stored_subpipeline`` send
a request and block ``start`` until the worker answers. Each call gets an id, a per-process
counter as a string (``"1"``, ``"2"``, ...), as HKube's wrapper does. The runner's reader thread
hands replies to ``on_reply``; a ``stop`` releases every waiting call (``release_all``) so that
``start`` can return. Like HKube's Python wrapper, a failed child is *returned* as its error
message, not raised, and a stopped child returns ``None``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from .streaming import Streaming

_NOT_YET = (
    "{name} is not supported by this wrapper yet (the code API for sub-algorithms is planned); "
    "run the work as pipeline nodes instead"
)

SUB_PIPELINE_REPLIES = frozenset(
    {"subPipelineStarted", "subPipelineDone", "subPipelineError", "subPipelineStopped"}
)


class _Call:
    """One request waiting for its reply."""

    __slots__ = ("command", "data", "done", "sent")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.sent = False  # its request is on the wire (so a stopSubPipeline for it follows it)
        self.command = ""
        self.data: Any = None

    def finish(self, command: str, data: Any) -> None:
        self.command, self.data = command, data
        self.done.set()


class HkubeApi:
    def __init__(self, send: Callable[[dict[str, Any]], int]) -> None:
        self._send = send
        self.streaming = Streaming(send)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}
        self._stopping = False  # from a stop until the next task: new calls return None at once

    def progress(self, percent: float, message: str = "") -> None:
        """Report progress of the running task (0-100)."""
        self._send({"command": "progress", "data": {"progress": percent, "message": message}})

    def start_span(self, name: str, tags: dict[str, Any] | None = None) -> None:
        """Open a span of the running task's trace (nested in any span still open)."""
        self._send({"command": "startSpan", "data": {"name": name, "tags": tags or {}}})

    def finish_span(self, tags: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Close the span opened last, with more tags and, if it failed, an error."""
        data: dict[str, Any] = {"tags": tags or {}}
        if error:
            data["error"] = error
        self._send({"command": "finishSpan", "data": data})

    # --- stream pipelines (streaming.py) ----------------------------------------------------------

    def send_message(self, msg: Any, flow: str | None = None) -> None:
        """Send a message on: along ``flow`` (a name of the pipeline's ``streaming.flows``), else
        the flow of the message being handled, else the default flow."""
        self.streaming.send_message(msg, flow)

    def sendMessage(self, msg: Any, flowName: str | None = None) -> None:
        self.streaming.send_message(msg, flowName)

    def register_input_listener(self, onMessage: Callable[[Any, Any], Any]) -> None:
        """``onMessage(message, origin)`` is called for each message sent to this node."""
        self.streaming.register_input_listener(onMessage)

    registerInputListener = register_input_listener

    def start_message_listening(self) -> None:
        """Start calling the input listeners (messages that came before wait until now)."""
        self.streaming.start_message_listening()

    startMessageListening = start_message_listening

    def start_algorithm(self, name: str, input: list[Any] | None = None, includeResult: bool = True) -> Any:
        """Not supported yet: always raises NotImplementedError."""
        raise NotImplementedError(_NOT_YET.format(name="start_algorithm"))

    # --- sub-pipelines ---------------------------------------------------------------------------

    def start_raw_subpipeline(
        self,
        name: str,
        nodes: list[dict[str, Any]],
        flowInput: dict[str, Any],
        options: dict[str, Any] | None = None,
        webhooks: dict[str, Any] | None = None,
        includeResult: bool = True,
    ) -> Any:
        """Run a pipeline given inline as a child job and wait for its end.

        Returns the child's results ``[{nodeName, batchIndex?, algorithmName, result}]`` (``None``
        with ``includeResult=False``); the error message (a string) when the child failed or
        could not start; ``None`` when it was stopped.
        """
        sub_pipeline = {
            "name": name,
            "nodes": nodes,
            "options": options or {},
            "webhooks": webhooks or {},
            "flowInput": flowInput,
        }
        return self._sub_pipeline("startRawSubPipeline", sub_pipeline, includeResult)

    def start_stored_subpipeline(
        self,
        name: str,
        flowInput: dict[str, Any] | None = None,
        includeResult: bool = True,
    ) -> Any:
        """Run a stored pipeline as a child job, ``flowInput`` deep-merged into the stored one,
        and wait for its end. Returns as ``start_raw_subpipeline`` does."""
        sub_pipeline = {"name": name, "flowInput": flowInput or {}}
        return self._sub_pipeline("startStoredSubPipeline", sub_pipeline, includeResult)

    def stop_subpipeline(self, subPipelineId: str, reason: str = "") -> None:
        """Stop a running sub-pipeline (call it from another thread, or from ``stop``); its
        ``start_*_subpipeline`` call then returns ``None``. The ids of the calls still waiting
        are in ``running_subpipelines``."""
        data = {"subPipelineId": str(subPipelineId), "reason": reason}
        self._send({"command": "stopSubPipeline", "data": data})

    @property
    def running_subpipelines(self) -> list[str]:
        """The ids of the sub-pipeline calls waiting for their end, oldest first."""
        with self._lock:
            return [call_id for call_id, call in self._calls.items() if call.sent]

    def _sub_pipeline(self, command: str, sub_pipeline: dict[str, Any], include_result: bool) -> Any:
        call_id = str(next(self._ids))
        call = _Call()
        with self._lock:
            if self._stopping:
                return None
            self._calls[call_id] = call
        data = {"subPipeline": sub_pipeline, "subPipelineId": call_id, "includeResult": include_result}
        try:
            self._send({"command": command, "data": data})
        except BaseException:
            with self._lock:
                self._calls.pop(call_id, None)
            raise
        call.sent = True
        call.done.wait()
        if call.command == "subPipelineDone":
            return (call.data or {}).get("response") if include_result else None
        if call.command == "subPipelineError":
            return (call.data or {}).get("error")
        return None  # stopped

    # --- called by the runner's reader and stop threads ------------------------------------------

    def on_reply(self, message: dict[str, Any]) -> None:
        """A reply from the worker (``subPipelineStarted`` needs no action)."""
        command = str(message.get("command"))
        data = message.get("data")
        if command == "subPipelineStarted" or not isinstance(data, dict):
            return
        with self._lock:
            call = self._calls.pop(str(data.get("subPipelineId")), None)
        if call is not None:  # else a reply to a call released by a stop
            call.finish(command, data)

    def release_all(self) -> None:
        """The task is being stopped: every waiting call returns ``None``, and so does every
        new one until ``new_task``."""
        with self._lock:
            self._stopping = True
            calls, self._calls = list(self._calls.values()), {}
        for call in calls:
            call.finish("subPipelineStopped", None)

    def new_task(self) -> None:
        with self._lock:
            self._stopping = False
