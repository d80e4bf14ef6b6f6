"""Big values as files: inputs read from the storage's files, a big result written to one.

The worker offers it in ``initialize.files`` when its storage is the filesystem and the wrapper
announced ``files=1`` (see ``algorithms/runtime/file_values.py`` for the worker's side):
``{"threshold", "encoding", "output", "input": {key: ref}}``. Inputs named in ``input`` are
``$$key`` leaves of ``args["input"]``, replaced here by the decoded file (or the part of it at
the ref's ``path``). A result over ``threshold`` bytes is written to ``output`` with HKube's
storage header, exactly as the worker would store it, and the worker is told with a small
``storing`` message instead of the value. Bytes are never copied on the way out, and read once
(``readinto``-style, straight into the value) on the way in.
"""

from __future__ import annotations

import json
import os
from typing import Any

try:
    import msgpack
except ImportError:  # the wrapper must run in any user environment
    msgpack = None

FIELD = "files"
PLACEHOLDER = "$$"
HEADER_LENGTH = 8
MAGIC = b"HK"
DATA_RAW, DATA_ENCODED = 1, 2
PROTOCOLS = {"bson": 1, "json": 2, "msgpack": 3}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOLS.items()}
BYTES_TYPES = (bytes, bytearray, memoryview)


def available() -> bool:
    """Whether this wrapper can take the offer: both storage encodings can be decoded."""
    return msgpack is not None


# --- inputs ----------------------------------------------------------------------------------


def take_offer(args: dict[str, Any]) -> dict[str, Any] | None:
    """Remove the offer from the task's args and put its file inputs into ``args["input"]``."""
    offer = args.pop(FIELD, None) if isinstance(args, dict) else None
    if not isinstance(offer, dict):
        return None
    refs = offer.get("input") or {}
    files: dict[str, Any] = {}
    if refs:
        values: dict[str, Any] = {}
        for key, ref in refs.items():
            if isinstance(ref, list):
                values[key] = [_value_of(item, files) for item in ref]
            else:
                values[key] = _value_of(ref, files)
        args["input"] = _replace(args.get("input"), values)
    for name in [name for name in _kept if name not in files]:
        del _kept[name]  # kept only while consecutive tasks read parts of it
    return offer


#: Objects read for a part of them (a batch item's element of a big array), by file: the next
#: item of the batch reads its element from memory (HKube's wrapper caches inputs the same way).
_kept: dict[str, tuple[tuple[int, int, int], Any]] = {}


def _value_of(ref: Any, files: dict[str, Any]) -> Any:
    if ref is None:
        return None
    if "file" not in ref:
        return ref.get("value")
    name, sub = ref["file"], ref.get("path") or ""
    if name not in files:
        files[name] = _read_kept(name) if sub else read_file(name)
    return get_path(files[name], sub)


def _read_kept(name: str) -> Any:
    stat = os.stat(name)
    version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    kept = _kept.get(name)
    if kept is not None and kept[0] == version:
        return kept[1]
    _kept.clear()  # one big object at a time
    value = read_file(name)
    _kept[name] = (version, value)
    return value


def _replace(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_replace(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _replace(item, values) for key, item in value.items()}
    if isinstance(value, str) and value.startswith(PLACEHOLDER) and value[2:] in values:
        return values[value[2:]]
    return value


def read_file(name: str) -> Any:
    """A stored object's value, decoded as HKube's storage does (raw bytes stay bytes)."""
    with open(name, "rb", buffering=0) as handle:
        head = handle.read(HEADER_LENGTH)
        if len(head) == HEADER_LENGTH and head[6:8] == MAGIC:
            length = head[1] or HEADER_LENGTH
            if length != HEADER_LENGTH:
                handle.seek(length)
            # readall: one allocation of the file's remaining size, read straight into it.
            payload = handle.read()
            if head[2] == DATA_RAW:
                return payload
            return _decode(payload, PROTOCOL_NAMES.get(head[3], "msgpack"))
        data = head + handle.read()
    try:
        return _decode(data, "msgpack")
    except Exception:  # noqa: BLE001 - headerless data that is not encoded is raw bytes
        return data


def _decode(payload: bytes, encoding: str) -> Any:
    if encoding == "msgpack" and msgpack is not None:
        return msgpack.unpackb(payload, raw=False, strict_map_key=False)
    if encoding == "json":
        return json.loads(payload)
    raise ValueError(f"cannot decode a stored object encoded with {encoding}")


def _step(current: Any, segment: str) -> Any:
    if isinstance(current, dict):
        return current.get(segment, _MISSING)
    if isinstance(current, (list, str)):
        if segment == "length":
            return len(current)
        if segment.isascii() and segment.isdigit() and str(int(segment)) == segment:
            index = int(segment)
            if index < len(current):
                return current[index]
    return _MISSING


_MISSING = object()


def lookup(obj: Any, dotted: str) -> Any:
    """object-path ``get`` as the worker does it (pipelines/engine/references.py)."""
    if dotted == "":
        return obj
    current = obj
    for segment in dotted.split("."):
        current = _step(current, segment)
        if current is _MISSING:
            return _MISSING
    return current


def get_path(obj: Any, dotted: str) -> Any:
    value = lookup(obj, dotted)
    return None if value is _MISSING else value


# --- the result ------------------------------------------------------------------------------


def _metadata(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return {"type": "array", "size": len(value)}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, (int, float)):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    return {"type": "object"}


def metadata(args: dict[str, Any], result: Any) -> dict[str, Any]:
    """HKube's result metadata: the type (and array size) at each of ``info.savePaths``."""
    save_paths = (args.get("info") or {}).get("savePaths") or []
    root = {args.get("nodeName"): result}
    found: dict[str, Any] = {}
    for path in save_paths:
        value = lookup(root, str(path))
        if value is not _MISSING:
            found[path] = _metadata(value)
    return found


def _header(data_type: int, encoding: str) -> bytes:
    return bytes([1, HEADER_LENGTH, data_type, PROTOCOLS[encoding], 0, 0]) + MAGIC


def write_result(
    offer: dict[str, Any] | None, args: dict[str, Any], result: Any, frame: bytes | str | None
) -> dict[str, Any] | None:
    """Write a big result to the offered file; the ``storing`` data, or None to send it inline.

    ``frame`` is the inline ``done`` frame when already encoded (None for bytes, which are
    written as they are): with msgpack frames and storage, the stored payload is its tail.
    """
    if offer is None:
        return None
    threshold = int(offer.get("threshold") or 0)
    encoding = offer.get("encoding")
    output = offer.get("output")
    if threshold <= 0 or not output or encoding not in ("msgpack", "json"):
        return None
    if encoding == "msgpack" and msgpack is None and not isinstance(result, BYTES_TYPES):
        return None
    if isinstance(result, BYTES_TYPES):
        if len(result) <= threshold:
            return None
        parts: tuple[Any, ...] = (_header(DATA_RAW, encoding), result)
    else:
        if frame is None or len(frame) <= threshold:
            return None
        parts = (_header(DATA_ENCODED, encoding), _payload(result, encoding, frame))
    os.makedirs(os.path.dirname(output), exist_ok=True)
    size = 0
    # The worker renames this file onto the task's path only after 'done': a crash here leaves
    # a spill file it removes, never half an object.
    with open(output, "wb", buffering=0) as handle:
        for part in parts:
            view = memoryview(part).cast("B")
            while view:
                written = handle.write(view)
                view = view[written:]
                size += written
    return {"file": output, "size": size, "metadata": metadata(args, result)}


_DONE_PREFIX = b""


def _payload(result: Any, encoding: str, frame: bytes | str) -> Any:
    """The stored payload of ``result``: the tail of its msgpack ``done`` frame when it can be."""
    global _DONE_PREFIX
    if encoding == "msgpack" and isinstance(frame, bytes) and msgpack is not None:
        if not _DONE_PREFIX:
            _DONE_PREFIX = msgpack.packb({"command": "done", "data": None}, use_bin_type=True)[:-1]
        if frame.startswith(_DONE_PREFIX):
            return memoryview(frame)[len(_DONE_PREFIX) :]
    if encoding == "msgpack" and msgpack is not None:
        return msgpack.packb(result, use_bin_type=True)
    return json.dumps(result, separators=(",", ":")).encode()
