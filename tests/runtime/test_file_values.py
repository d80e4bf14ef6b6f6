"""Big values as files (algorithms/runtime/file_values.py): a real Runner driving a real process of
our Python wrapper, with the filesystem storage; the worker never holds a big value."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from algorithms.runtime import file_values
from algorithms.runtime.runner import Runner
from algorithms.runtime.session import AlgorithmSession
from pipelines.engine import ids, planning
from pipelines.taskspec import TaskSpec
from pipelines.values import ValueCache
from storage import FsAdapter, Storage, StorageError, encoding, paths

from .conftest import SessionFactory

THRESHOLD = 64 * 1024
BIG = 200 * 1024

ALGORITHM = {
    "main.py": """
        import os
        import time

        BIG = 200 * 1024
        stopping = False

        def stop(data):
            global stopping
            stopping = True

        def start(args):
            global stopping
            what = args["input"][0]
            if what == "bytes":
                return bytes(range(256)) * (args["input"][1] // 256)
            if what == "items":
                return {"items": ["x" * 1000] * args["input"][1], "n": args["input"][1]}
            if what == "small":
                return {"small": True}
            if what == "fail-big":
                raise RuntimeError("no result")
            if what == "crash":
                os._exit(3)
            if what == "wait-big":
                stopping = False
                open(args["input"][1], "w").close()
                while not stopping:
                    time.sleep(0.01)
                return bytes(BIG)
            if what == "crash-once":
                if not os.path.exists(args["input"][1]):
                    open(args["input"][1], "w").close()
                    os._exit(3)
                return bytes(BIG)
            # echo: describe what came in
            def describe(v):
                sized = isinstance(v, (bytes, list, dict, str))
                head = v[:4] if isinstance(v, (bytes, list)) else None
                return [type(v).__name__, len(v) if sized else v, head]

            return [describe(v) for v in args["input"][1:]] + [sorted(k for k in args if k == "files")]
    """
}


class SessionRunner(Runner):
    """A Runner whose algorithm session is the test's (no database lookup of versions)."""

    def __init__(
        self,
        storage: Storage,
        session: AlgorithmSession,
        threshold: int,
        respawn: Callable[[], AlgorithmSession] | None = None,
    ) -> None:
        super().__init__(storage, "files-w1", threshold)
        self.fixed = session
        self.respawn = respawn

    def session_for(
        self, algorithm_name: str, version: str, debug: bool = False, stream: bool = False
    ) -> AlgorithmSession:
        if not self.fixed.alive and self.respawn is not None:
            self.fixed = self.respawn()  # a crashed process is started again, as _spawn does
        self.session = self.fixed  # what on_stop stops
        return self.fixed


def spec_of(node: dict[str, Any], outputs: dict[str, Any], save_paths: list[str] | None = None) -> TaskSpec:
    plan = planning.plan_node(node, outputs=outputs, flow_input=None, cluster="local")
    mode = "batch" if plan["batch"] else "single"
    return {  # type: ignore[typeddict-item]
        "jobId": "job-files",
        "nodeName": node["nodeName"],
        "algorithmName": "files-alg",
        "pipelineName": "files",
        "plan": plan,
        "mode": mode,
        "batch": plan["batch"],
        "retry": {"policy": "OnCrash", "limit": 1},
        "ttl": 0,
        "cluster": "local",
        "info": {"savePaths": save_paths or []},
        "parents": [],
        "childs": [],
    }


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(FsAdapter(tmp_path / "storage"), "msgpack")


@pytest.fixture
def runner(start_wrapper: SessionFactory, storage: Storage) -> SessionRunner:
    # Frames over 100 kB close the connection: a big value that went inline would crash the task.
    def spawn() -> AlgorithmSession:
        return start_wrapper("python", ALGORITHM, max_message_size=100_000)

    session = spawn()
    assert session.file_values
    return SessionRunner(storage, session, THRESHOLD, spawn)


def run_one(runner: Runner, spec: TaskSpec, index: int = 0) -> dict[str, Any]:
    (record,) = runner.run_chunk(spec, [index], set())
    assert record["status"] == "succeed", record["error"]
    assert record["result"] is not None
    return record["result"]


def stored_files(storage: Storage) -> list[str]:
    return storage.adapter.list("local-hkube/job-files")


def test_a_big_bytes_result_is_written_by_the_wrapper_and_renamed_into_place(
    runner: SessionRunner, storage: Storage
) -> None:
    spec = spec_of({"nodeName": "A", "input": ["bytes", BIG]}, {})
    result = run_one(runner, spec)

    path = paths.task_output("local", "job-files", ids.task_id("job-files", "A", 0))
    data = storage.adapter.get_bytes(path)
    assert result == {"storageInfo": {"path": path, "size": len(data)}, "metadata": {}}
    assert storage.get(path) == bytes(range(256)) * (BIG // 256)
    assert data == encoding.encode(
        bytes(range(256)) * (BIG // 256), "msgpack"
    )  # exactly as the worker stores
    assert stored_files(storage) == [path]  # no spill file left over
    assert runner.cache.items == {}  # the worker never read it


def test_a_big_object_result_carries_its_metadata_and_feeds_a_batch(
    runner: SessionRunner, storage: Storage
) -> None:
    spec = spec_of({"nodeName": "A", "input": ["items", 300]}, {}, ["A", "A.items", "A.n"])
    result = run_one(runner, spec)

    value = {"items": ["x" * 1000] * 300, "n": 300}
    path = result["storageInfo"]["path"]
    assert storage.adapter.get_bytes(path) == encoding.encode(value, "msgpack")
    assert result["metadata"] == planning.output_metadata("A", value, ["A", "A.items", "A.n"])
    assert result["metadata"]["A.items"] == {"type": "array", "size": 300}

    # `#@A.items` fans out over the big array: each item reads its element from the file.
    outputs = {"A": {"kind": "single", "link": result, "metadata": result["metadata"]}}
    child = spec_of({"nodeName": "B", "input": ["echo", "#@A.items", "@A.n"]}, outputs)
    assert child["plan"]["count"] == 300
    records = runner.run_chunk(child, [0, 299], set())
    for record in records:
        assert record["status"] == "succeed" and record["result"] is not None, record["error"]
        assert storage.get(record["result"]["storageInfo"]["path"]) == [
            ["str", 1000, None],
            ["int", 300, None],
            [],
        ]
    assert path not in runner.cache.items


def test_a_big_input_is_read_by_the_wrapper_and_small_ones_stay_inline(
    runner: SessionRunner, storage: Storage
) -> None:
    big = paths.task_output("local", "job-files", "big-one")
    small = paths.task_output("local", "job-files", "small-one")
    storage.put(big, b"\x01\x02\x03\x04" * (BIG // 4))
    storage.put(small, [1, 2, 3])
    outputs = {
        "P": {"kind": "single", "link": {"storageInfo": {"path": big}}},
        "Q": {"kind": "single", "link": {"storageInfo": {"path": small}}},
    }
    spec = spec_of({"nodeName": "C", "input": ["echo", "@P", "@Q", "$$not-a-key"]}, outputs)

    payload = runner._payload(runner.fixed, spec, spec["plan"], 0, 0, "t-1")
    assert payload["input"][2] == [1, 2, 3] and payload["files"] is not None
    assert payload["input"][1].startswith("$$") and payload["input"][3] == "$$not-a-key"
    assert list(payload["files"]["input"].values()) == [
        {"file": str(storage.adapter.local_path(big)), "path": ""}  # type: ignore[attr-defined]
    ]
    file_values.discard(payload["files"])

    result = run_one(runner, spec)
    echoed = storage.get(result["storageInfo"]["path"])
    assert echoed == [["bytes", BIG, b"\x01\x02\x03\x04"], ["list", 3, [1, 2, 3]], ["str", 11, None], []]
    assert big not in runner.cache.items  # the worker did not read the big one


def test_small_results_stay_inline(runner: SessionRunner, storage: Storage) -> None:
    spec = spec_of({"nodeName": "S", "input": ["small"]}, {})
    result = run_one(runner, spec)
    assert storage.get(result["storageInfo"]["path"]) == {"small": True}


@pytest.mark.parametrize("what", ["fail-big", "crash"])
def test_a_failed_or_crashed_attempt_leaves_no_object_and_no_spill_file(
    runner: SessionRunner, storage: Storage, what: str
) -> None:
    spec = spec_of({"nodeName": "F", "input": [what]}, {})
    spec["retry"] = {"policy": "Never", "limit": 0}
    (record,) = runner.run_chunk(spec, [0], set())
    assert record["status"] in ("failed", "crashed")
    assert stored_files(storage) == [p for p in stored_files(storage) if not Path(p).name.startswith(".")]
    assert not storage.adapter.exists(
        paths.task_output("local", "job-files", ids.task_id("job-files", "F", 0))
    )


def test_a_crashed_attempt_is_retried_and_its_retry_stores_the_big_result(
    runner: SessionRunner, storage: Storage, tmp_path: Path
) -> None:
    spec = spec_of({"nodeName": "R", "input": ["crash-once", str(tmp_path / "crashed")]}, {})
    (record,) = runner.run_chunk(spec, [0], set())
    assert (record["status"], record["attempt"]) == ("succeed", 2), record["error"]
    assert record["result"] is not None
    assert storage.get(record["result"]["storageInfo"]["path"]) == bytes(BIG)
    assert [Path(p).name for p in stored_files(storage)] == [ids.task_id("job-files", "R", 0)]


def test_a_stopped_task_leaves_no_object_and_no_spill_file(
    runner: SessionRunner, storage: Storage, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    spec = spec_of({"nodeName": "W", "input": ["wait-big", str(started)]}, {})
    records: list[Any] = []
    thread = threading.Thread(target=lambda: records.extend(runner.run_chunk(spec, [0], set())))
    thread.start()
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.on_stop("job-files")
    thread.join(30)
    assert [r["status"] for r in records] == ["stopped"]
    assert stored_files(storage) == []


def test_a_spill_file_left_by_a_crash_mid_write_is_removed(tmp_path: Path, storage: Storage) -> None:
    adapter = storage.adapter
    assert isinstance(adapter, FsAdapter)
    offered = file_values.offer(adapter, storage, "local-hkube/job-x/task-1", THRESHOLD, {})
    spill = Path(offered["output"])
    assert spill.parent == Path(adapter.local_path("local-hkube/job-x/task-1")).parent
    spill.parent.mkdir(parents=True)
    spill.write_bytes(b"half")
    assert not file_values.spilled(offered, {"file": "/elsewhere", "size": 4})
    file_values.discard(offered)
    assert not spill.exists()


def test_without_the_fs_storage_or_with_threshold_zero_nothing_is_offered(
    runner: SessionRunner, storage: Storage
) -> None:
    assert file_values.fs_adapter(storage, 0) is None
    assert file_values.fs_adapter(Storage(storage.adapter, "bson"), THRESHOLD) is None

    class S3Like:
        name = "@hkube/s3-adapter"

    assert file_values.fs_adapter(Storage(S3Like(), "msgpack"), THRESHOLD) is None  # type: ignore[arg-type]
    inline = SessionRunner(storage, runner.fixed, 0)
    spec = spec_of({"nodeName": "A", "input": ["bytes", 50_000]}, {})
    payload = inline._payload(runner.fixed, spec, spec["plan"], 0, 0, "t-2")
    assert "files" not in payload
    result = run_one(inline, spec)
    assert storage.get(result["storageInfo"]["path"]) == bytes(range(256)) * (50_000 // 256)


def test_the_value_cache_is_used_before_a_file(storage: Storage) -> None:
    adapter = storage.adapter
    assert isinstance(adapter, FsAdapter)
    path = "local-hkube/job-y/t"
    storage.put(path, {"a": "x" * BIG})
    cache = ValueCache(storage)
    link = {"storageInfo": {"path": path}, "path": "a"}
    _, files = file_values.split_inputs(["$$k0"], {"k0": link}, cache, adapter, THRESHOLD)
    assert files == {"k0": {"file": str(adapter.local_path(path)), "path": "a"}}
    cache.read(path)
    value, files = file_values.split_inputs(["$$k0"], {"k0": link}, cache, adapter, THRESHOLD)
    assert files == {} and value == ["x" * BIG]


def test_with_json_storage_the_wrapper_writes_json_as_the_worker_would(
    start_wrapper: SessionFactory, tmp_path: Path
) -> None:
    storage = Storage(FsAdapter(tmp_path / "json-storage"), "json")
    session = start_wrapper("python", ALGORITHM, max_message_size=100_000)
    runner = SessionRunner(storage, session, THRESHOLD)
    result = run_one(runner, spec_of({"nodeName": "A", "input": ["items", 300]}, {}, ["A.items"]))

    value = {"items": ["x" * 1000] * 300, "n": 300}
    assert storage.adapter.get_bytes(result["storageInfo"]["path"]) == encoding.encode(value, "json")
    assert result["metadata"] == {"A.items": {"type": "array", "size": 300}}


def test_a_link_in_place_of_the_spill_file_is_refused(tmp_path: Path, storage: Storage) -> None:
    adapter = storage.adapter
    assert isinstance(adapter, FsAdapter)
    offered = file_values.offer(adapter, storage, "local-hkube/job-z/task-1", THRESHOLD, {})
    secret = tmp_path / "secret"
    secret.write_bytes(b"not yours")
    spill = Path(offered["output"])
    spill.parent.mkdir(parents=True)
    spill.symlink_to(secret)
    storing = {"file": offered["output"], "size": 9, "metadata": {}}
    with pytest.raises(StorageError, match="not a regular file"):
        file_values.adopt(adapter, offered, storing, "local-hkube/job-z/task-1")
    file_values.discard(offered)
    assert not spill.exists() and secret.exists()
