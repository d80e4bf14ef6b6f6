"""What a job hands out: `kind: output` nodes, and results too big to inline.

**Output nodes** (semantics §4.7). HKube swaps an output node's algorithm for a generated
image, `<pipelineName>-output`, whose `start` returns `args.input`: the node's result is
whatever the user wired into its input. Here the driver runs it itself, with no algorithm
process and no queue: after the commit that made the node active, each item's input is
expanded from the node's plan and resolved from storage, stored at the item's ordinary
task path (`<cluster>-hkube/<jobId>/<taskId>`), and recorded as a succeeded Task row; then
the node finishes through `node_finished`, like any other. The dag already checks that an
output node has parents and no children, and that there is at most one. Its parents are
no longer sinks, so the results hold the output node (and any other sink).

The work runs in the process that committed the dispatch (an engine worker, or the
algorithm worker that finished the parent), outside the job's lock. An item whose input
cannot be read fails with `input: <reason>`, as a worker reports it.

**Big results.** A result at or above `STORAGE_RESULTS_THRESHOLD` is not inlined:
`big_data_info` is HKube's `info: {path, size, isBigData: true, message}`, where the
message gives the size as the `pretty-bytes` package prints it (`data too large (205 kB),
use the stream api`). The same message refuses such objects in `storage/values`.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import tempfile
import time
import zipfile
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings

from hkube_site.object_store import get_storage
from pipelines import ports, taskspec
from pipelines.engine import ids, planning
from pipelines.services.recording import TaskRecord, record_chunk, task_record
from pipelines.taskspec import TaskSpec
from pipelines.values import ValueCache
from storage import NotFound as StorageNotFound
from storage import encoding, paths

if TYPE_CHECKING:
    from pipelines.models import Job

log = logging.getLogger(__name__)

OUTPUT_KIND = "output"


def node_algorithm(pipeline_name: str, descriptor: dict[str, Any]) -> str:
    """The algorithm name a node runs under: an output node's is `<pipelineName>-output`."""
    if descriptor.get("kind") == OUTPUT_KIND:
        return f"{pipeline_name}-{OUTPUT_KIND}"
    return str(descriptor.get("algorithmName") or "")


def is_output(spec: TaskSpec) -> bool:
    return spec.get("nodeKind") == OUTPUT_KIND


def run_output_items(spec: TaskSpec, indices: list[int]) -> None:
    """Run items of an output node (positions as `run_items` gets them) and record them.

    Called after commit, never inside the job's lock: it reads and writes storage. The
    driver finishes the node afterwards (`services.driver._run_output_node`)."""
    storage = get_storage()
    cache = ValueCache(storage)
    plan = spec["plan"]
    records: list[TaskRecord] = []
    for index in indices:
        batch_index = taskspec.batch_index(spec, index)
        started = int(time.time() * 1000)
        try:
            if spec["mode"] == "any":
                missing = taskspec.missing_parents(spec, batch_index)
                raw, storage_map = planning.expand_item(plan, batch_index, missing=missing)
            else:
                raw, storage_map = planning.expand_item(plan, index)
            value = planning.resolve_input(raw, storage_map, cache.read)
        except Exception as exc:  # noqa: BLE001 - a bad reference fails this item only
            records.append(task_record(spec, batch_index, "failed", "", error=f"input: {exc}", start=started))
            continue
        task_id = ids.task_id(spec["jobId"], spec["nodeName"], batch_index)
        path = paths.task_output(spec["cluster"], spec["jobId"], task_id)
        try:
            size = storage.put(path, value)
        except Exception as exc:  # noqa: BLE001 - storing failed: the item failed
            records.append(
                task_record(spec, batch_index, "failed", "", error=f"storing: {exc}", start=started)
            )
            continue
        result = {"storageInfo": {"path": path, "size": size}, "metadata": {}}
        records.append(task_record(spec, batch_index, "succeed", "", result=result, start=started))
    record_chunk(spec, records)


# --- big results -----------------------------------------------------------------------------

BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def _js_number(value: float) -> str:
    """A number as JavaScript prints it: 205.0 -> "205", 1.23 -> "1.23"."""
    return str(int(value)) if value == int(value) else repr(value)


def _to_precision3(value: float) -> float:
    """`Number(value.toPrecision(3))`: three significant digits, halves rounded up on the
    exact binary value (Python's formatting would round halves to even)."""
    exact = Decimal(value)
    step = Decimal(1).scaleb(exact.adjusted() - 2)
    return float(exact.quantize(step, rounding=ROUND_HALF_UP))


def pretty_bytes(size: int) -> str:
    """The `pretty-bytes` package (decimal units): 204800 -> "205 kB", 1234567 -> "1.23 MB"."""
    if size < 1:
        return f"{_js_number(float(size))} B"
    exponent = min(math.floor(math.log10(size) / 3), len(BYTE_UNITS) - 1)
    value = _to_precision3(size / 1000**exponent)
    return f"{_js_number(value)} {BYTE_UNITS[exponent]}"


def too_large_message(size: int) -> str:
    return f"data too large ({pretty_bytes(size)}), use the stream api"


def big_data_info(path: str, size: int) -> dict[str, Any]:
    """A result entry's `info` when its stored object is at or above the threshold."""
    return {"path": path, "size": size, "isBigData": True, "message": too_large_message(size)}


# --- reading stored objects (the `storage/*` endpoints) ---------------------------------------


class ObjectMissing(Exception):
    """No object at this storage path (a folder is not an object)."""


def object_size(path: str) -> int:
    """The stored size of the object at `path`; raises ObjectMissing."""
    adapter = get_storage().adapter
    try:
        if not adapter.exists(path):
            raise ObjectMissing(path)
        return adapter.size(path)
    except StorageNotFound as exc:
        raise ObjectMissing(path) from exc


def json_bytes(value: Any) -> bytes:
    """JSON as HKube's api-server writes it; raw bytes inside become Node's Buffer shape."""

    def buffer(obj: object) -> object:
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return {"type": "Buffer", "data": list(bytes(obj))}
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")

    return json.dumps(value, default=buffer, separators=(",", ":")).encode()


def read_value(path: str) -> Any:
    """The decoded value at `path` (`storage/values`). Objects at or above the threshold
    are refused (`ValueError` with HKube's message): decoding them is the stream api's job."""
    size = object_size(path)
    if size >= int(settings.HKUBE_RESULTS_THRESHOLD):
        raise ValueError(too_large_message(size))
    return get_storage().get(path)


def custom_stream(path: str) -> tuple[Iterator[bytes], str]:
    """`storage/stream/custom`: the object as HKube's storage-manager `getCustomStream`
    serves it, with a content type. Raw bytes stored with HKube's header come without the
    header; an encoded object below the threshold comes decoded, as JSON; an encoded object
    at or above it comes as its encoded payload (no header): decoding it here would hold
    it all in memory. Anything without the header comes as stored."""
    storage = get_storage()
    size = object_size(path)
    chunks = storage.adapter.open_stream(path)
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= encoding.HEADER_LENGTH:
            break
    if len(head) < encoding.HEADER_LENGTH or head[6:8] != encoding.MAGIC:
        return itertools.chain([head], chunks), OCTETS
    if head[2] == encoding.DATA_ENCODED and size < int(settings.HKUBE_RESULTS_THRESHOLD):
        value = encoding.decode(head + b"".join(chunks), storage.encoding)
        return iter([json_bytes(value)]), "application/json"
    return itertools.chain([head[head[1] or encoding.HEADER_LENGTH :]], chunks), OCTETS


def raw_stream(path: str) -> Iterator[bytes]:
    """`storage/stream`: the object's bytes exactly as stored."""
    object_size(path)
    return get_storage().adapter.open_stream(path)


def results_archive(job: Job) -> IO[bytes]:
    """`storage/download/pipeline/result/{jobId}`: a zip of a completed job's results.

    As HKube builds it: every big-data entry's object is a file named after the entry
    (`<nodeName>[-<batchIndex>].<ext>`, ext = the algorithm's `downloadFileExt` or `hkube`)
    holding what `storage/stream/custom` serves, and `metadata.json` lists the result
    entries, a big one with `info: {size, fileName}`. Raises ObjectMissing for a job with
    no result data (running, failed or stopped)."""
    data_ref = (job.result or {}).get("data")
    if not (isinstance(data_ref, dict) and data_ref.get("storageInfo")):
        raise ObjectMissing(job.job_id)
    entries: list[dict[str, Any]] = get_storage().get(data_ref["storageInfo"]["path"])
    big = {e["algorithmName"] for e in entries if e.get("info")}
    extensions = ports.get().download_extensions(big)
    archive = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 - returned open
    metadata = []
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for entry in entries:
            info = entry.get("info")
            if not info:
                metadata.append(entry)
                continue
            suffix = f"-{entry['batchIndex']}" if "batchIndex" in entry else ""
            name = f"{entry['nodeName']}{suffix}.{extensions.get(entry['algorithmName'], 'hkube')}"
            chunks, _ = custom_stream(info["path"])
            with zf.open(name, "w", force_zip64=True) as target:
                for chunk in chunks:
                    target.write(chunk)
            metadata.append({**entry, "info": {"size": info["size"], "fileName": name}})
        zf.writestr("metadata.json", json_bytes(metadata))
    archive.seek(0)
    return archive


OCTETS = "application/octet-stream"
