"""One contract, two adapters: the fs adapter and the S3 adapter against a real
S3-compatible server (moto in server mode) pass the same tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import NotFound, Storage, open_storage, paths
from storage import encoding as enc

from .s3_server import S3_KEYS, moto_server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "fs":
        return open_storage("fs", tmp_path, "msgpack")
    endpoint = request.getfixturevalue("s3_endpoint")
    # A cluster name per test: every test gets buckets of its own on the shared server.
    return open_storage("s3", tmp_path, "msgpack", {**S3_KEYS, "endpoint_url": endpoint})


def _cluster(tmp_path: Path) -> str:
    return f"c{abs(hash(tmp_path)) % 10**8}"


def test_a_value_comes_back_as_it_was_put(store: Storage, tmp_path: Path) -> None:
    path = paths.task_output(_cluster(tmp_path), "main:numbers:abc", "task-1")
    value = {"numbers": [1, 2, 3], "nested": {"text": "é", "none": None}, "raw": b"\x00\x01"}
    size = store.put(path, value)
    assert store.get(path) == value
    assert store.adapter.size(path) == size
    assert store.adapter.exists(path)


def test_the_stored_bytes_keep_hkubes_header(store: Storage, tmp_path: Path) -> None:
    path = paths.flow_input(_cluster(tmp_path), "job-1")
    store.put(path, {"a": 1})
    data = store.adapter.get_bytes(path)
    assert data[6:8] == enc.MAGIC and data[3] == enc.PROTOCOLS["msgpack"]
    assert enc.decode(data, "msgpack") == {"a": 1}


def test_raw_bytes_without_a_header_stay_raw(store: Storage, tmp_path: Path) -> None:
    path = paths.build_upload(_cluster(tmp_path), "alg-abc123")
    store.adapter.put_bytes(path, b"PK\x03\x04 not headered")
    assert store.adapter.get_bytes(path) == b"PK\x03\x04 not headered"


def test_a_missing_object_is_not_found_for_every_read(store: Storage, tmp_path: Path) -> None:
    path = paths.task_output(_cluster(tmp_path), "job-x", "missing")
    with pytest.raises(NotFound):
        store.adapter.get_bytes(path)
    with pytest.raises(NotFound):
        store.adapter.size(path)
    with pytest.raises(NotFound):
        store.adapter.open_stream(path)
    assert not store.adapter.exists(path)


def test_a_big_object_streams_in_chunks_and_keeps_its_header(store: Storage, tmp_path: Path) -> None:
    path = paths.task_output(_cluster(tmp_path), "job-big", "task-big")
    blob = bytes(range(256)) * (12 * 1024)  # 3 MiB
    store.put(path, blob)
    chunks = list(store.adapter.open_stream(path, chunk_size=1 << 20))
    assert len(chunks) >= 3
    assert all(len(chunk) <= 1 << 20 for chunk in chunks)
    assert enc.decode(b"".join(chunks), "msgpack") == blob


def test_list_names_the_objects_under_a_folder_only(store: Storage, tmp_path: Path) -> None:
    bucket = paths.bucket(_cluster(tmp_path))
    for name in ("job-1/a", "job-1/b", "job-1/sub/c", "job-10/a"):
        store.put(f"{bucket}/{name}", name)
    assert store.adapter.list(f"{bucket}/job-1") == [f"{bucket}/job-1/{n}" for n in ("a", "b", "sub/c")]
    assert store.adapter.list(f"{bucket}/job-2") == []
    assert store.adapter.list(paths.bucket(_cluster(tmp_path), "never-written") + "/x") == []


def test_delete_removes_a_folder_or_one_object(store: Storage, tmp_path: Path) -> None:
    bucket = paths.bucket(_cluster(tmp_path))
    for name in ("job-1/a", "job-1/b", "job-10/a", "job-2/x"):
        store.put(f"{bucket}/{name}", name)
    assert store.adapter.delete_prefix(f"{bucket}/job-1") == 2
    assert store.adapter.list(f"{bucket}/job-1") == []
    assert store.get(f"{bucket}/job-10/a") == "job-10/a"
    assert store.adapter.delete_prefix(f"{bucket}/job-2/x") == 1
    assert not store.adapter.exists(f"{bucket}/job-2/x")
    assert store.adapter.delete_prefix(f"{bucket}/job-3") == 0


def test_writing_the_same_path_again_replaces_it(store: Storage, tmp_path: Path) -> None:
    path = paths.job_result(_cluster(tmp_path), "job-1")
    store.put(path, [1])
    store.put(path, [2, 3])
    assert store.get(path) == [2, 3]


def test_a_path_without_a_key_is_refused(store: Storage) -> None:
    if store.adapter.name != "@hkube/s3-adapter":
        pytest.skip("the fs adapter stores a bare folder name as a file")
    from storage import StorageError

    with pytest.raises(StorageError, match="must be <bucket>/<key>"):
        store.adapter.put_bytes("just-a-bucket", b"x")
