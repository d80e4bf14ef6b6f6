"""The S3 adapter's listings for storage browsing, against a fake client at the boto3 seam
(remote S3 is an edge we cannot run here)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from storage.s3 import S3Adapter

STAMP = dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
OBJECTS = ["job-1/a", "job-1/b/c", "job-2/x", "top"]


class FakeS3:
    """`list_objects_v2` with Prefix, Delimiter and MaxKeys, over one bucket."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        prefix = kwargs.get("Prefix", "")
        keys = [k for k in OBJECTS if k.startswith(prefix)]
        if kwargs.get("Delimiter"):
            rests = [k[len(prefix) :] for k in keys]
            common = sorted({prefix + rest.split("/")[0] + "/" for rest in rests if "/" in rest})
            return {"CommonPrefixes": [{"Prefix": p} for p in common]}
        keys = keys[: kwargs.get("MaxKeys", 1000)]
        return {"Contents": [{"Key": k, "Size": len(k), "LastModified": STAMP} for k in keys]}

    def get_paginator(self, name: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                return [getattr(fake, name)(**kwargs)]

        return Paginator()


def test_keys_under_a_folder_carry_size_and_an_iso_mtime() -> None:
    client = FakeS3()
    stats = S3Adapter(client).list_with_stats("local-hkube/job-1", 100)
    assert stats == [
        {"path": "local-hkube/job-1/a", "size": 7, "mtime": "2024-01-02T03:04:05.678Z"},
        {"path": "local-hkube/job-1/b/c", "size": 9, "mtime": "2024-01-02T03:04:05.678Z"},
    ]
    assert client.calls[-1] == {"Bucket": "local-hkube", "Prefix": "job-1/", "MaxKeys": 100}


def test_key_listings_ask_for_at_most_max_keys() -> None:
    client = FakeS3()
    assert len(S3Adapter(client).list_with_stats("local-hkube", 2)) == 2
    assert client.calls[-1]["Prefix"] == ""


def test_prefixes_are_the_folder_names_directly_under_a_path() -> None:
    adapter = S3Adapter(FakeS3())
    assert adapter.list_prefixes("local-hkube") == ["job-1", "job-2"]
    assert adapter.list_prefixes("local-hkube/job-1/") == ["b"]
