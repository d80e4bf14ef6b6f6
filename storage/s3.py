"""S3 adapter (boto3). The bucket is the first path segment, as in HKube."""

from __future__ import annotations

import base64
import builtins
from collections.abc import Iterator
from typing import Any

from .base import NotFound, ObjectStat, StorageError
from .encoding import HEADER_LENGTH, MAGIC


class S3Adapter:
    name = "@hkube/s3-adapter"

    def __init__(self, client: Any) -> None:
        # The boto3 client is passed in so tests substitute it at this seam.
        self.client = client
        self._buckets: set[str] = set()

    @staticmethod
    def _split(path: str) -> tuple[str, str]:
        bucket, _, key = path.lstrip("/").partition("/")
        if not bucket or not key:
            raise StorageError(f"storage path {path!r} must be <bucket>/<key>")
        return bucket, key

    def _ensure_bucket(self, bucket: str) -> None:
        if bucket in self._buckets:
            return
        try:
            self.client.head_bucket(Bucket=bucket)
        except Exception:  # noqa: BLE001 - any failure: try to create it
            self.client.create_bucket(Bucket=bucket)
        self._buckets.add(bucket)

    def put_bytes(self, path: str, data: bytes) -> int:
        bucket, key = self._split(path)
        self._ensure_bucket(bucket)
        # HKube keeps the header in object metadata (base64) and the payload as the body.
        if len(data) >= HEADER_LENGTH and data[6:8] == MAGIC:
            header, body = data[:HEADER_LENGTH], data[HEADER_LENGTH:]
            meta = {"header": base64.b64encode(header).decode()}
        else:
            body, meta = data, {}
        self.client.put_object(Bucket=bucket, Key=key, Body=body, Metadata=meta)
        return len(data)

    def get_bytes(self, path: str) -> bytes:
        bucket, key = self._split(path)
        try:
            obj = self.client.get_object(Bucket=bucket, Key=key)
        except self.client.exceptions.NoSuchKey as exc:
            raise NotFound(f"{path} not found in storage") from exc
        body: bytes = obj["Body"].read()
        header = (obj.get("Metadata") or {}).get("header")
        return (base64.b64decode(header) + body) if header else body

    def open_stream(self, path: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        data = self.get_bytes(path)
        return iter([data[i : i + chunk_size] for i in range(0, len(data), chunk_size)])

    def size(self, path: str) -> int:
        bucket, key = self._split(path)
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise NotFound(f"{path} not found in storage") from exc
        size: int = head["ContentLength"]
        return size

    def exists(self, path: str) -> bool:
        try:
            self.size(path)
        except NotFound:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        bucket, _, key = prefix.lstrip("/").partition("/")
        paginator = self.client.get_paginator("list_objects_v2")
        names: list[str] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            names.extend(f"{bucket}/{item['Key']}" for item in page.get("Contents", []))
        return names

    def list_with_stats(self, prefix: str, max_keys: int) -> builtins.list[ObjectStat]:
        bucket, _, key = prefix.lstrip("/").partition("/")
        key = f"{key.rstrip('/')}/" if key else ""
        page = self.client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=max_keys)
        return [
            {
                "path": f"{bucket}/{item['Key']}",
                "size": int(item["Size"]),
                "mtime": item["LastModified"].isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
            for item in page.get("Contents", [])
        ]

    def list_prefixes(self, prefix: str) -> builtins.list[str]:
        bucket, _, key = prefix.lstrip("/").partition("/")
        key = f"{key.rstrip('/')}/" if key else ""
        paginator = self.client.get_paginator("list_objects_v2")
        names: builtins.list[str] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=key, Delimiter="/"):
            names.extend(p["Prefix"][len(key) :].rstrip("/") for p in page.get("CommonPrefixes", []))
        return names

    def delete_prefix(self, prefix: str) -> int:
        names = self.list(prefix)
        for name in names:
            bucket, key = self._split(name)
            self.client.delete_object(Bucket=bucket, Key=key)
        return len(names)
