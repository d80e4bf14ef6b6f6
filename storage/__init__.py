"""Object storage behind one small interface: filesystem (default) or S3.

Usable without Django (the algorithm worker and tests build a `Storage` directly);
`get_storage()` builds the configured one from Django settings.
"""

from __future__ import annotations

from functools import lru_cache

from . import paths
from .base import Adapter, NotFound, Storage, StorageError
from .fs import FsAdapter

__all__ = ["Adapter", "FsAdapter", "NotFound", "Storage", "StorageError", "get_storage", "paths"]


@lru_cache(maxsize=1)
def get_storage() -> Storage:
    from django.conf import settings

    if settings.HKUBE_STORAGE == "s3":
        import boto3

        from .s3 import S3Adapter

        s3 = settings.HKUBE_S3
        client = boto3.client(
            "s3",
            endpoint_url=s3["endpoint_url"] or None,
            aws_access_key_id=s3["access_key"] or None,
            aws_secret_access_key=s3["secret_key"] or None,
            region_name=s3["region"],
        )
        return Storage(S3Adapter(client), settings.HKUBE_STORAGE_ENCODING)
    return Storage(FsAdapter(settings.HKUBE_STORAGE_DIR), settings.HKUBE_STORAGE_ENCODING)
