"""Task rows: one builder per item, one statement per chunk, redeliveries update in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import taskspec
from pipelines.engine import ids
from pipelines.models import Job, Task
from pipelines.services import recording
from pipelines.values import ValueCache
from storage import open_storage


def spec(mode: taskspec.Mode = "batch") -> taskspec.TaskSpec:
    return taskspec.stored({"jobId": "j1", "nodeName": "B", "algorithmName": "b", "mode": mode})


def test_a_record_names_its_task_and_starts_now_when_it_never_ran() -> None:
    record = recording.task_record(spec(), 3, "failed", "w1", error="boom")

    assert record["task_id"] == ids.task_id("j1", "B", 3)
    assert (record["status"], record["error"], record["worker"], record["attempt"]) == (
        "failed",
        "boom",
        "w1",
        1,
    )
    assert record["start_time"] == record["end_time"]


def test_unrun_records_skip_the_items_that_already_ended() -> None:
    records = recording.unrun_records(spec(), [0, 1, 2], {2}, "crashed", "w1", "CrashLoopBackOff")

    assert [r["batch_index"] for r in records] == [1, 3]
    assert {r["status"] for r in records} == {"crashed"}
    single = recording.unrun_records(spec("single"), [0], set(), "failed", "w1", "worker error: x")
    assert [r["batch_index"] for r in single] == [0]


def test_summary_counts_items_per_status() -> None:
    records = [
        recording.task_record(spec(), i, s, "w") for i, s in enumerate(["succeed", "failed", "succeed"])
    ]

    assert recording.summary(records) == {"succeed": 2, "failed": 1}


@pytest.mark.django_db
def test_a_redelivered_chunk_updates_its_rows_and_finds_what_ended() -> None:
    Job.objects.create(job_id="j1", pipeline_name="p", pipeline={}, user_pipeline={})
    recording.record_chunk(spec(), [recording.task_record(spec(), i, "failed", "w1") for i in (1, 2, 3)])
    recording.record_chunk(spec(), [recording.task_record(spec(), 2, "succeed", "w2", attempt=2)])

    rows = dict(Task.objects.filter(job_id="j1").values_list("batch_index", "status"))
    assert rows == {1: "failed", 2: "succeed", 3: "failed"}
    assert Task.objects.get(job_id="j1", batch_index=2).worker == "w2"
    assert recording.ended_items(spec(), [0, 1, 5]) == {1, 2}


def test_the_value_cache_reads_each_object_once(tmp_path: Path) -> None:
    storage = open_storage("fs", tmp_path, "msgpack")
    storage.put("c-hkube/j/t", {"x": [1, 2]})
    cache = ValueCache(storage)

    assert cache.read("c-hkube/j/t") == {"x": [1, 2]}
    storage.put("c-hkube/j/t", "changed")
    assert cache.read("c-hkube/j/t") == {"x": [1, 2]}  # served from the cache
