"""Frames and command names of the HKube worker <-> algorithm WebSocket protocol.

Every frame carries one message ``{"command": str, "data": any}`` (errors carry a top-level
``"error"`` instead of ``"data"``). The codec is the one the algorithm announces in its connection
query (``?storage=v3&encoding=msgpack``); see the protocol reference §1-§2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

# --- worker -> algorithm -------------------------------------------------------------------------
INITIALIZE = "initialize"
START = "start"
STOP = "stop"
EXIT = "exit"
ALGORITHM_EXECUTION_DONE = "algorithmExecutionDone"
ALGORITHM_EXECUTION_ERROR = "algorithmExecutionError"
SUB_PIPELINE_STARTED = "subPipelineStarted"
SUB_PIPELINE_DONE = "subPipelineDone"
SUB_PIPELINE_ERROR = "subPipelineError"
SUB_PIPELINE_STOPPED = "subPipelineStopped"
DATA_SOURCE_RESPONSE = "dataSourceResponse"

# --- algorithm -> worker -------------------------------------------------------------------------
INITIALIZED = "initialized"
STARTED = "started"
STORING = "storing"
DONE = "done"
ERROR_MESSAGE = "errorMessage"
STOPPED = "stopped"
STOPPING = "stopping"
PROGRESS = "progress"
LOG_DATA = "logData"
START_SPAN = "startSpan"
FINISH_SPAN = "finishSpan"
ALIVE = "alive"
SERVING_STATUS = "servingStatus"
START_ALGORITHM_EXECUTION = "startAlgorithmExecution"
STOP_ALGORITHM_EXECUTION = "stopAlgorithmExecution"
START_RAW_SUB_PIPELINE = "startRawSubPipeline"
START_STORED_SUB_PIPELINE = "startStoredSubPipeline"
STOP_SUB_PIPELINE = "stopSubPipeline"
DATA_SOURCE_REQUEST = "dataSourceRequest"

#: Requests an algorithm makes through its code API; each expects a reply frame from the worker.
CODE_API_REQUESTS = frozenset(
    {
        START_ALGORITHM_EXECUTION,
        STOP_ALGORITHM_EXECUTION,
        START_RAW_SUB_PIPELINE,
        START_STORED_SUB_PIPELINE,
        STOP_SUB_PIPELINE,
        DATA_SOURCE_REQUEST,
    }
)

ENCODINGS = ("json", "msgpack", "bson")
#: What the HKube worker assumes when the query names nothing (DEFAULT_* in its config).
DEFAULT_ENCODING = "json"
DEFAULT_STORAGE_MODE = "v1"

Frame = bytes | str


class CodecUnavailableError(RuntimeError):
    """The encoding is known but its library is not installed here."""


@dataclass(frozen=True, slots=True)
class Codec:
    """How one encoding turns a message into a frame and back.

    ``encode`` returns ``str`` for text frames (json) and ``bytes`` for binary frames;
    websockets picks the frame type from that.
    """

    name: str
    binary: bool
    encode: Callable[[Any], Frame]
    decode: Callable[[Frame], Any]


def _json_encode(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"))


def _msgpack_encode(message: Any) -> bytes:
    return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]


def _msgpack_decode(frame: Frame) -> Any:
    return msgpack.unpackb(frame, raw=False)


JSON = Codec("json", False, _json_encode, json.loads)
MSGPACK = Codec("msgpack", True, _msgpack_encode, _msgpack_decode)


def _bson_codec() -> Codec:
    try:
        import bson  # optional dependency: ships with pymongo
    except ImportError as exc:
        raise CodecUnavailableError(
            "the algorithm asked for encoding=bson but the 'bson' module is not installed in the "
            "worker's environment; install pymongo or set WORKER_ALGORITHM_ENCODING=msgpack"
        ) from exc

    # BSON needs a document at top level, so HKube wraps every message in {"data": ...}.
    def encode(message: Any) -> bytes:
        return bson.encode({"data": message})  # type: ignore[no-any-return]

    def decode(frame: Frame) -> Any:
        if isinstance(frame, str):
            frame = frame.encode()
        return bson.decode(frame)["data"]

    return Codec("bson", True, encode, decode)


def get_codec(encoding: str) -> Codec:
    """The codec for an ``encoding`` query value; raises ValueError for unknown names."""
    if encoding == "msgpack":
        return MSGPACK
    if encoding == "json":
        return JSON
    if encoding == "bson":
        return _bson_codec()
    raise ValueError(f"unknown WebSocket encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")


def error_of(message: dict[str, Any]) -> dict[str, Any]:
    """The ``{code, message}`` of an ``errorMessage`` frame, tolerant of odd shapes."""
    error = message.get("error")
    if isinstance(error, dict):
        return {"code": error.get("code", "Failed"), "message": str(error.get("message", ""))}
    if error is None:
        error = message.get("data")
    return {"code": "Failed", "message": "" if error is None else str(error)}
