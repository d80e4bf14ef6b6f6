"""Big values passed as files between our Python wrapper and the filesystem storage.

Over storage protocol v1 every value travels inline: a result goes algorithm -> WebSocket ->
worker -> storage, an input storage -> worker -> WebSocket -> algorithm, each hop a copy in
memory. When the storage is the filesystem adapter (so the algorithm process sees the same
files) and the wrapper announced it in its connection query (``files=1``, our Python wrapper),
the worker adds ``files`` to ``initialize``:

``{"threshold": n, "encoding": "msgpack", "output": <spill file>, "input": {<$$key>: ref}}``

- **Results.** A result bigger than ``threshold`` bytes is written by the wrapper, encoded as
  ``storage.encoding`` stores it (HKube's header + payload), into ``output``: a dot-file beside
  the task's storage path, so the same filesystem. It then sends ``storing {file, size,
  metadata}`` and ``done`` with no data; the worker (:func:`adopt`) renames the file onto the
  task's path (no copy) and records size and metadata as for an inline value. A spill file
  that is not adopted (error, stop, crash mid-write, retry) is removed (:func:`discard`):
  no half object is ever at a task's path.
- **Inputs.** A ``$$key`` whose stored object is bigger than ``threshold`` stays a ``$$key`` in
  ``input`` and ``files.input[key]`` says where it is: ``{"file", "path"}`` (the object's file,
  the sub-path inside it) or, for a list of links, a list of those, ``{"value"}`` for a small
  one and ``None`` for a failed item. The wrapper reads and decodes the file itself.

Only local algorithm processes get it (never an attached debug client or a pod's algorunner,
which may not share the disk), and only for ``msgpack``/``json`` storage encodings.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Mapping
from typing import Any

from pipelines.engine import planning, references
from pipelines.values import ValueCache
from storage import FsAdapter, Storage, StorageError

#: The ``initialize`` field, and the connection query parameter that asks for it.
FIELD = "files"
DEFAULT_THRESHOLD = 1 << 20
ENCODINGS = ("msgpack", "json")


def fs_adapter(storage: Storage, threshold: int) -> FsAdapter | None:
    """The filesystem adapter when big values may go as files through this storage."""
    adapter = getattr(storage, "adapter", None)  # none: a runner without storage (tests)
    if threshold > 0 and isinstance(adapter, FsAdapter) and storage.encoding in ENCODINGS:
        return adapter
    return None


def split_inputs(
    raw_input: object,
    storage_map: Mapping[str, Any],
    cache: ValueCache,
    adapter: FsAdapter,
    threshold: int,
) -> tuple[Any, dict[str, Any]]:
    """The input with its small ``$$key`` values resolved, and the file refs of the big ones."""
    sizes: dict[str, bool] = {}

    def big(link: Mapping[str, Any] | None) -> bool:
        if link is None:
            return False
        info = link["storageInfo"]
        path = info["path"]
        if path not in sizes:
            if path in cache.items:
                sizes[path] = False
            elif isinstance(info.get("size"), int):  # recorded with the parent's Task row
                sizes[path] = info["size"] > threshold
            else:
                try:
                    sizes[path] = os.stat(adapter.local_path(path)).st_size > threshold
                except (OSError, StorageError):
                    sizes[path] = False  # read inline: the usual error is reported
        return sizes[path]

    def ref(link: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if link is None:
            return None
        path, sub = link["storageInfo"]["path"], link.get("path") or ""
        if big(link):
            return {"file": adapter.local_path(path), "path": sub}
        return {"value": references.get_path(cache.read(path), sub)}

    small: dict[str, Any] = {}
    files: dict[str, Any] = {}
    for key, target in storage_map.items():
        links = target if isinstance(target, list) else [target]
        if any(big(link) for link in links):
            files[key] = [ref(link) for link in target] if isinstance(target, list) else ref(target)
        else:
            small[key] = target
    return planning.resolve_input(raw_input, small, cache.read), files


def offer(
    adapter: FsAdapter, storage: Storage, task_path: str, threshold: int, inputs: dict[str, Any]
) -> dict[str, Any]:
    """The ``initialize`` field for one attempt of a task whose output goes to ``task_path``."""
    folder, _, name = adapter.local_path(task_path).rpartition("/")
    spill = f"{folder}/.{name}.{os.urandom(4).hex()}.spill"  # a new name for every attempt
    return {"threshold": threshold, "encoding": storage.encoding, "output": spill, "input": inputs}


def spilled(offered: Mapping[str, Any] | None, storing: Mapping[str, Any] | None) -> bool:
    """Whether the wrapper answered with the spill file it was offered."""
    return bool(offered and storing and storing.get("file") == offered.get("output"))


def adopt(
    adapter: FsAdapter, offered: Mapping[str, Any], storing: Mapping[str, Any], task_path: str
) -> dict[str, Any]:
    """Rename the wrapper's spill file onto the task's path; the task's result record."""
    spill = str(offered["output"])
    metadata = _metadata(storing.get("metadata"))
    found = os.lstat(spill)
    if not stat.S_ISREG(found.st_mode):  # never a link to a file elsewhere
        raise StorageError("the algorithm's result file is not a regular file")
    size = found.st_size
    if size != storing.get("size"):
        raise StorageError(
            f"the algorithm's result file has {size} bytes, it announced {storing.get('size')}"
        )
    target = adapter.local_path(task_path)
    os.replace(spill, target)  # same folder: a rename, never a copy
    return {"storageInfo": {"path": task_path, "size": size}, "metadata": metadata}


def discard(offered: Mapping[str, Any] | None) -> None:
    """Remove a spill file that was not adopted (a failed, stopped or crashed attempt)."""
    if offered:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(str(offered["output"]))


def _metadata(value: object) -> dict[str, references.Metadata]:
    """The wrapper's metadata, checked to be HKube's shape (it drives batch fan-out sizes)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StorageError("the algorithm's result metadata is not an object")
    checked: dict[str, references.Metadata] = {}
    for path, meta in value.items():
        kind = meta.get("type") if isinstance(meta, dict) else None
        if not isinstance(path, str) or not isinstance(kind, str):
            raise StorageError(f"the algorithm's result metadata at {path!r} is malformed")
        entry: references.Metadata = {"type": kind}
        if "size" in meta:
            size = meta["size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise StorageError(f"the algorithm's result metadata at {path!r} has a bad size")
            entry["size"] = size
        checked[path] = entry
    return checked
