"""HKube's storage encoding: an 8-byte header, then the payload.

Header: ``[0x01 version, 0x08 length, dataType, protocol, 0, 0, 'H', 'K']`` where
dataType is 1 for raw bytes and 2 for an encoded object, and protocol is 1 bson,
2 json, 3 msgpack. Readers treat data as headered only when bytes 6-7 are ``HK``.
The same format is read and written by HKube's wrappers (storage protocol v3).
"""

from __future__ import annotations

import json
from typing import Any

import msgpack

MAGIC = b"HK"
DATA_RAW = 1
DATA_ENCODED = 2
PROTOCOLS = {"bson": 1, "json": 2, "msgpack": 3}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOLS.items()}
HEADER_LENGTH = 8


def _header(data_type: int, protocol: int) -> bytes:
    return bytes([1, HEADER_LENGTH, data_type, protocol, 0, 0]) + MAGIC


def _encode_payload(value: Any, encoding: str) -> bytes:
    if encoding == "msgpack":
        packed: bytes = msgpack.packb(value, use_bin_type=True)
        return packed
    if encoding == "json":
        return json.dumps(value, separators=(",", ":")).encode()
    if encoding == "bson":
        import bson  # from pymongo; only needed when a cluster chose bson

        encoded: bytes = bson.encode({"data": value})
        return encoded
    raise ValueError(f"unknown storage encoding {encoding!r}")


def _decode_payload(payload: bytes, encoding: str) -> Any:
    if encoding == "msgpack":
        return msgpack.unpackb(payload, raw=False, strict_map_key=False)
    if encoding == "json":
        return json.loads(payload)
    if encoding == "bson":
        import bson

        return bson.decode(payload)["data"]
    raise ValueError(f"unknown storage encoding {encoding!r}")


def encode(value: Any, encoding: str = "msgpack") -> bytes:
    """Encode a value for storage; bytes are stored raw, everything else encoded."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _header(DATA_RAW, PROTOCOLS[encoding]) + bytes(value)
    return _header(DATA_ENCODED, PROTOCOLS[encoding]) + _encode_payload(value, encoding)


def decode(data: bytes, encoding: str = "msgpack") -> Any:
    """Decode stored bytes. Headerless data is decoded with `encoding`, else returned raw."""
    if len(data) >= HEADER_LENGTH and data[6:8] == MAGIC:
        length = data[1] or HEADER_LENGTH
        data_type, protocol = data[2], data[3]
        payload = data[length:]
        if data_type == DATA_RAW:
            return payload
        # Unlike HKube's Python wrapper (which ignores it) we honour the protocol byte, so
        # objects written by a peer with another STORAGE_ENCODING still read correctly.
        return _decode_payload(payload, PROTOCOL_NAMES.get(protocol, encoding))
    try:
        return _decode_payload(data, encoding)
    except Exception:  # noqa: BLE001 - headerless data that is not encoded is raw bytes
        return data
