"""Filesystem adapter: objects are files under one base directory."""

from __future__ import annotations

import builtins
import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .base import NotFound, ObjectStat, StorageError


class FsAdapter:
    name = "@hkube/fs-adapter"

    def __init__(self, base_dir: Path) -> None:
        self.base = Path(base_dir).resolve()
        self._root = str(self.base).rstrip("/")

    def _file(self, path: str) -> Path:
        full = (self.base / path.lstrip("/")).resolve()
        if full != self.base and self.base not in full.parents:
            raise StorageError(f"storage path {path!r} leaves the storage folder")
        return full

    def local_path(self, path: str) -> str:
        """The file that holds the object at `path` (for a process on the same machine): a
        plain string join, without `_file`'s `resolve()` (a system call per folder), for the
        hot path; a path with a `..` segment is refused."""
        relative = path.lstrip("/")
        if ".." in relative.split("/"):
            raise StorageError(f"storage path {path!r} leaves the storage folder")
        return f"{self._root}/{relative}"

    def put_bytes(self, path: str, data: bytes) -> int:
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half an object and a redelivered
        # task that writes the same path again is harmless.
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
        return len(data)

    def get_bytes(self, path: str) -> bytes:
        try:
            with open(self._file(path), "rb") as handle:
                return handle.read()
        except FileNotFoundError as exc:
            raise NotFound(f"{path} not found in storage") from exc
        except IsADirectoryError as exc:
            raise NotFound(f"{path} is a folder, not an object") from exc

    def open_stream(self, path: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        try:
            handle = open(self._file(path), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as exc:
            raise NotFound(f"{path} not found in storage") from exc

        def chunks() -> Iterator[bytes]:
            with handle:
                while block := handle.read(chunk_size):
                    yield block

        return chunks()

    def size(self, path: str) -> int:
        try:
            return self._file(path).stat().st_size
        except FileNotFoundError as exc:
            raise NotFound(f"{path} not found in storage") from exc

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def delete_prefix(self, prefix: str) -> int:
        target = self._file(prefix)
        if target.is_file():
            target.unlink()
            return 1
        if target.is_dir():
            count = sum(1 for p in target.rglob("*") if p.is_file())
            shutil.rmtree(target)
            return count
        return 0

    def list(self, prefix: str) -> list[str]:
        target = self._file(prefix)
        if not target.is_dir():
            return []
        return sorted(str(p.relative_to(self.base)) for p in target.rglob("*") if p.is_file())

    def list_with_stats(self, prefix: str, max_keys: int) -> builtins.list[ObjectStat]:
        """The first `max_keys` objects under `prefix` (a folder), with size and mtime."""
        target = self._file(prefix)
        if not target.is_dir():
            return []
        listed: builtins.list[ObjectStat] = []
        for file in sorted(p for p in target.rglob("*") if p.is_file()):
            if len(listed) >= max_keys:
                break
            stat = file.stat()
            mtime = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).isoformat(timespec="milliseconds")
            path = str(file.relative_to(self.base))
            listed.append({"path": path, "size": stat.st_size, "mtime": mtime.replace("+00:00", "Z")})
        return listed

    def list_prefixes(self, prefix: str) -> builtins.list[str]:
        """The folders directly under `prefix` (HKube's `listPrefixes`), by name."""
        target = self._file(prefix)
        if not target.is_dir():
            return []
        return sorted(p.name for p in target.iterdir() if p.is_dir())
