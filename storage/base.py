"""The storage interface every adapter implements (filesystem, S3)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any, Protocol, TypedDict

from . import encoding as enc


class StorageError(Exception):
    """A read or write against the object store failed."""


class NotFound(StorageError):
    pass


class ObjectStat(TypedDict):
    """One listed object, as HKube's `listWithStats` gives it (`mtime` in ISO 8601)."""

    path: str
    size: int
    mtime: str


class Adapter(Protocol):
    name: str

    def put_bytes(self, path: str, data: bytes) -> int: ...
    def get_bytes(self, path: str) -> bytes: ...
    def open_stream(self, path: str, chunk_size: int = 1 << 20) -> Iterator[bytes]: ...
    def size(self, path: str) -> int: ...
    def exists(self, path: str) -> bool: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def list(self, prefix: str) -> list[str]: ...
    def list_with_stats(self, prefix: str, max_keys: int) -> builtins.list[ObjectStat]: ...
    def list_prefixes(self, prefix: str) -> builtins.list[str]: ...


class Storage:
    """Objects in storage: values encoded with HKube's header, raw bytes kept raw."""

    def __init__(self, adapter: Adapter, encoding: str = "msgpack") -> None:
        self.adapter = adapter
        self.encoding = encoding

    def put(self, path: str, value: Any) -> int:
        """Store a value; returns the stored size in bytes."""
        return self.adapter.put_bytes(path, enc.encode(value, self.encoding))

    def get(self, path: str) -> Any:
        return enc.decode(self.adapter.get_bytes(path), self.encoding)
