"""Object storage behind one small interface: filesystem (default) or S3.

Usable without Django (the algorithm worker and tests build a `Storage` directly);
`open_storage()` builds one from a configuration; `hkube_site.object_store.get_storage()`
is the configured one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from . import paths
from .base import Adapter, NotFound, ObjectStat, Storage, StorageError
from .fs import FsAdapter

__all__ = [
    "Adapter",
    "FsAdapter",
    "NotFound",
    "ObjectStat",
    "Storage",
    "StorageError",
    "open_storage",
    "paths",
]


def open_storage(
    kind: str,
    directory: Path,
    encoding: str,
    s3: Mapping[str, str] | None = None,
) -> Storage:
    """The storage of one configuration: `fs` (a folder) or `s3` (boto3 with these
    credentials and endpoint). Django-free; `hkube_site.object_store` calls it with
    the settings."""
    if kind == "s3":
        import boto3

        from .s3 import S3Adapter

        s3 = s3 or {}
        client = boto3.client(
            "s3",
            endpoint_url=s3.get("endpoint_url") or None,
            aws_access_key_id=s3.get("access_key") or None,
            aws_secret_access_key=s3.get("secret_key") or None,
            region_name=s3.get("region") or None,
        )
        return Storage(S3Adapter(client), encoding)
    return Storage(FsAdapter(directory), encoding)
