"""Big values as files (algorithms/runtime/file_values.py) through the whole system: a few MiB
passed from node A to node B by our Python wrapper, stored exactly as the worker stores values,
read back by exec/results and the storage endpoints; a big array still fans out a batch."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest

from storage import encoding
from tests.e2e.algorithms import python
from tests.e2e.harness import Cluster, node

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
PAYLOAD = bytes(range(256)) * (3 * MIB // 256)  # 3 MiB, over the 1 MiB default threshold

PRODUCE = python(
    "def start(args):",
    "    if args['input'][0] == 'items':",
    "        return {'items': [str(i) * 1000 for i in range(2000)]}",
    "    return bytes(range(256)) * (args['input'][0] // 256)",
)
DIGEST = python(
    "import hashlib",
    "def start(args):",
    "    value = args['input'][0]",
    "    return [type(value).__name__, len(value), hashlib.sha256(value).hexdigest()]",
)
LENGTH = python("def start(args):", "    return [args['batchIndex'], len(args['input'][0])]")


@pytest.fixture(scope="module")
def algorithms(algorithm_factory: Callable[..., str]) -> dict[str, str]:
    return {
        "produce": algorithm_factory("e2e-files-produce", PRODUCE),
        "digest": algorithm_factory("e2e-files-digest", DIGEST),
        "length": algorithm_factory("e2e-files-length", LENGTH),
    }


def storage_dir(hkube: Cluster) -> Path:
    return Path(hkube.env.get("BASE_FS_ADAPTER_DIRECTORY") or hkube.home / "storage")


def test_a_few_mib_of_bytes_go_from_a_to_b_as_a_file_and_read_back_everywhere(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "e2e-files",
        "nodes": [
            node("A", algorithms["produce"], len(PAYLOAD), includeInResult=True),
            node("B", algorithms["digest"], "@A"),
        ],
    }
    status = hkube.run("exec/raw", pipeline)
    assert status["status"] == "completed", status
    job_id = status["jobId"]
    entries = {entry["nodeName"]: entry for entry in hkube.results(job_id)["data"]}

    # B got A's bytes, identical.
    assert entries["B"]["result"] == ["bytes", len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest()]

    # A's result is stored as the worker would store it, and read by exec/results and storage.
    info = entries["A"]["info"]
    assert info["isBigData"] is True
    stored = hkube.get(f"storage/stream/{info['path']}")
    assert stored.status_code == 200
    assert stored.content == encoding.encode(PAYLOAD, "msgpack")
    custom = hkube.get(f"storage/stream/custom/{info['path']}")
    assert custom.status_code == 200 and custom.content == PAYLOAD

    # No spill file is left beside the objects.
    folder = storage_dir(hkube) / f"local-hkube/{job_id}"
    assert [p.name for p in folder.iterdir() if p.name.endswith(".spill")] == []


def test_a_big_array_written_by_the_wrapper_still_fans_out_a_batch(
    hkube: Cluster, algorithms: dict[str, str]
) -> None:
    pipeline = {
        "name": "e2e-files-batch",
        "nodes": [
            node("A", algorithms["produce"], "items"),
            node("B", algorithms["length"], "#@A.items"),
        ],
    }
    status = hkube.run("exec/raw", pipeline, timeout=180)
    assert status["status"] == "completed", status
    assert status["data"]["states"] == {"succeed": 2001}
    results = hkube.results(status["jobId"])["data"]
    assert len(results) == 2000
    lengths = {entry["batchIndex"]: entry["result"] for entry in results}
    assert lengths[1] == [1, 1000] and lengths[2000] == [2000, 4 * 1000]

    # A's output went through the wrapper's file: the one object over 1 MiB in the job's folder.
    folder = storage_dir(hkube) / f"local-hkube/{status['jobId']}"
    (a_output,) = [p for p in folder.iterdir() if p.stat().st_size > MIB]
    assert msgpack.unpackb(a_output.read_bytes()[8:], raw=False) == {
        "items": [str(i) * 1000 for i in range(2000)]
    }
