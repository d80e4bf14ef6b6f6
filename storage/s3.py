"""S3 adapter (boto3). The bucket is the first path segment, as in HKube
(`<cluster>-hkube/<jobId>/<taskId>`); a bucket is created the first time it is written to.

What makes it safe without a shared disk: every object is read back through the API (no
local cache another process could miss), big objects stream in chunks from the response
body, and a missing key is `NotFound` whichever way S3 says so (`NoSuchKey`, a 404 on
HEAD). Plain Python: the boto3 client is passed in, so tests point it at a real
S3-compatible server.
"""

from __future__ import annotations

import base64
import builtins
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from .base import NotFound, ObjectStat, StorageError
from .encoding import HEADER_LENGTH, MAGIC

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys per call


def _missing(exc: ClientError) -> bool:
    error = exc.response.get("Error") or {}
    return str(error.get("Code", "")) in _MISSING


class S3Adapter:
    name = "@hkube/s3-adapter"

    def __init__(self, client: Any) -> None:
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
        except ClientError as exc:
            if not _missing(exc):
                raise StorageError(f"cannot reach bucket {bucket}: {exc}") from exc
            try:
                self.client.create_bucket(Bucket=bucket)
            except ClientError as create_exc:
                # Another process created it between our HEAD and CREATE: that is fine.
                code = str((create_exc.response.get("Error") or {}).get("Code", ""))
                if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise StorageError(f"cannot create bucket {bucket}: {create_exc}") from create_exc
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

    def _get_object(self, path: str) -> dict[str, Any]:
        bucket, key = self._split(path)
        try:
            obj: dict[str, Any] = self.client.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise NotFound(f"{path} not found in storage") from exc
            raise StorageError(f"cannot read {path}: {exc}") from exc
        return obj

    @staticmethod
    def _header(obj: dict[str, Any]) -> bytes:
        header = (obj.get("Metadata") or {}).get("header")
        return base64.b64decode(header) if header else b""

    def get_bytes(self, path: str) -> bytes:
        obj = self._get_object(path)
        body: bytes = obj["Body"].read()
        return self._header(obj) + body

    def open_stream(self, path: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The object in chunks straight from the response body: a big object is never
        held in memory whole. NotFound is raised here, before the first chunk."""
        obj = self._get_object(path)
        header = self._header(obj)

        def chunks() -> Iterator[bytes]:
            body = obj["Body"]
            try:
                if header:
                    yield header
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

        return chunks()

    def size(self, path: str) -> int:
        """The stored size, header included (as `get_bytes` returns it)."""
        bucket, key = self._split(path)
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise NotFound(f"{path} not found in storage") from exc
            raise StorageError(f"cannot read {path}: {exc}") from exc
        size: int = head["ContentLength"]
        return size + len(self._header(head))

    def exists(self, path: str) -> bool:
        try:
            self.size(path)
        except NotFound:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        """Every object under the folder `prefix` (as the fs adapter: `<jobId>` lists
        `<jobId>/...`, never `<jobId>-other/...`)."""
        bucket, _, key = prefix.lstrip("/").partition("/")
        if key and not key.endswith("/"):
            key += "/"
        paginator = self.client.get_paginator("list_objects_v2")
        names: list[str] = []
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=key):
                names.extend(f"{bucket}/{item['Key']}" for item in page.get("Contents", []))
        except ClientError as exc:
            if _missing(exc):
                return []
            raise StorageError(f"cannot list {prefix}: {exc}") from exc
        return sorted(names)

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
        """The object `prefix`, or every object under the folder `prefix`."""
        names = self.list(prefix)
        if not names and prefix.partition("/")[2] and self.exists(prefix):
            names = [prefix.lstrip("/")]
        for start in range(0, len(names), _DELETE_BATCH):
            batch = names[start : start + _DELETE_BATCH]
            bucket = self._split(batch[0])[0]
            self.client.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": self._split(name)[1]} for name in batch], "Quiet": True},
            )
        return len(names)
