"""The configured object storage: `storage.open_storage` with this site's settings.

`storage` itself is plain Python; this is the one place that reads its settings."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from storage import Storage, open_storage


@lru_cache(maxsize=1)
def get_storage() -> Storage:
    return open_storage(
        settings.HKUBE_STORAGE,
        settings.HKUBE_STORAGE_DIR,
        settings.HKUBE_STORAGE_ENCODING,
        settings.HKUBE_S3,
    )
