"""Frame codec of the wrapper: binary msgpack when the module is importable, else JSON text."""

from __future__ import annotations

import json
import os
from typing import Any

try:
    import msgpack
except ImportError:  # the wrapper must run in any user environment
    msgpack = None

BYTES_OVER_JSON = (
    "the algorithm returned bytes, which a JSON connection cannot carry; install msgpack in the "
    "algorithm's environment (the wrapper then uses binary msgpack frames) or return text"
)


class Codec:
    def __init__(self, name: str) -> None:
        self.name = name

    def encode(self, message: Any) -> bytes | str:
        raise NotImplementedError

    def decode(self, frame: bytes | str) -> Any:
        raise NotImplementedError


def _json_default(value: object) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(BYTES_OVER_JSON)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class JsonCodec(Codec):
    def __init__(self) -> None:
        super().__init__("json")
        self._dumps = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode

    def encode(self, message: Any) -> str:
        return self._dumps(message)

    def decode(self, frame: bytes | str) -> Any:
        return json.loads(frame)


class MsgpackCodec(Codec):
    def __init__(self) -> None:
        super().__init__("msgpack")
        assert msgpack is not None
        self._packb = msgpack.packb
        self._unpackb = msgpack.unpackb

    def encode(self, message: Any) -> bytes:
        return self._packb(message, use_bin_type=True)  # type: ignore[no-any-return]

    def decode(self, frame: bytes | str) -> Any:
        return self._unpackb(frame, raw=False)


def choose_codec() -> Codec:
    """msgpack unless ``WORKER_ALGORITHM_ENCODING=json`` or msgpack is not installed."""
    wanted = os.environ.get("WORKER_ALGORITHM_ENCODING", "msgpack").strip().lower()
    if wanted != "json" and msgpack is not None:
        return MsgpackCodec()
    return JsonCodec()
