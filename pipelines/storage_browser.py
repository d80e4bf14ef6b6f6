"""Browsing the object store (`storage/prefix/types`, `storage/prefixes`, `storage/keys`).

As HKube's api-server does: the prefix types are this cluster's buckets; a key listing is at
most `MAX_STORAGE_FETCH_KEYS` objects, then sorted (`sort` names a field, `order` asc|desc)
and sliced `[from, to)`, with no defaults applied. Reads only."""

from __future__ import annotations

from typing import Any, TypedDict

from django.conf import settings

from hkube_site.object_store import get_storage
from hkube_site.validation import validate
from storage import ObjectStat, paths

MAX_STORAGE_FETCH_KEYS = 100
BUCKET_KINDS = ("", "results", "index", "builds", "logs")

LIST_QUERY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sort": {"type": "string"},
        "order": {"type": "string", "enum": ["asc", "desc"]},
        "from": {"type": "integer", "minimum": 0},
        "to": {"type": "integer", "minimum": 0},
    },
}


class Listing(TypedDict):
    path: str
    total: int
    keys: list[Any]


def prefix_types() -> list[str]:
    cluster = str(settings.HKUBE_CLUSTER_NAME)
    return [paths.bucket(cluster, kind) for kind in BUCKET_KINDS]


def prefixes(path: str, query: dict[str, Any]) -> Listing:
    names: list[Any] = get_storage().adapter.list_prefixes(path)
    return {"path": path, "total": len(names), "keys": _window(names, query)}


def keys(path: str, query: dict[str, Any]) -> Listing:
    stats = get_storage().adapter.list_with_stats(path, MAX_STORAGE_FETCH_KEYS)
    return {"path": path, "total": len(stats), "keys": _window(stats, query)}


def parse_query(query: Any) -> dict[str, Any]:
    """The listing's query string, checked as HKube's schema does (`data.from should be integer`)."""
    wanted = {k: query.get(k) for k in LIST_QUERY["properties"] if query.get(k) not in (None, "")}
    result: dict[str, Any] = validate(LIST_QUERY, wanted, use_defaults=False)
    return result


def _window(items: list[Any], query: dict[str, Any]) -> list[Any]:
    sort = query.get("sort")
    if sort:
        reverse = query.get("order") == "desc"
        items = sorted(items, key=lambda item: _sort_key(item, sort), reverse=reverse)
    start = query.get("from", 0)
    end = query.get("to", len(items))
    return items[start:end]


def _sort_key(item: Any, field: str) -> tuple[bool, Any]:
    value = item.get(field) if isinstance(item, dict) else item
    return (value is None, value if value is not None else 0)


__all__ = [
    "MAX_STORAGE_FETCH_KEYS",
    "Listing",
    "ObjectStat",
    "keys",
    "parse_query",
    "prefix_types",
    "prefixes",
]
