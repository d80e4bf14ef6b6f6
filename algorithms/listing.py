"""Reading the algorithm store: `store/algorithms?name=&sort=&limit=` and the paged
`store/algorithmsFilter` (`{hits, cursor, timeTook}`), both ordered by `created`.

`name` matches a part of the name, case-insensitively. The cursor of `algorithmsFilter` is
the last hit's name: the next page starts after it. `fields` (comma-separated) keeps only
those top-level fields of each hit (`name` always stays)."""

from __future__ import annotations

import time
from typing import Any

from django.db.models import QuerySet

from algorithms.models import Algorithm
from hkube_site.validation import validate

SORT = {"type": "string", "enum": ["asc", "desc"]}
LIMIT = {"type": "integer", "minimum": 1}
LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "sort": SORT, "limit": LIMIT},
}
FILTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string"},
        "algorithmImage": {"type": "boolean"},
        "pending": {"type": "boolean"},
        "cursor": {"type": "string"},
        "page": {"type": "integer", "minimum": 1},
        "sort": SORT,
        "limit": LIMIT,
        "fields": {"type": "string"},
    },
}
DEFAULT_PAGE_SIZE = 100


def _query(params: Any, schema: dict[str, Any]) -> dict[str, Any]:
    wanted = {k: params.get(k) for k in schema["properties"] if params.get(k) not in (None, "")}
    result: dict[str, Any] = validate(schema, wanted, use_defaults=False)
    return result


def _ordered(query: dict[str, Any]) -> QuerySet[Algorithm]:
    found = Algorithm.objects.all()
    if query.get("name"):
        found = found.filter(name__icontains=query["name"])
    if query.get("sort") == "desc":
        return found.order_by("-created", "-id")
    return found.order_by("created", "id")


def list_algorithms(params: Any) -> list[Algorithm]:
    query = _query(params, LIST_SCHEMA)
    found = _ordered(query)
    return list(found[: query["limit"]] if "limit" in query else found)


def filter_algorithms(params: Any) -> dict[str, Any]:
    started = time.perf_counter()
    query = _query(params, FILTER_SCHEMA)
    hits = [a.as_api() for a in _ordered(query)]
    if "kind" in query:
        hits = [h for h in hits if h.get("kind", "algorithm") == query["kind"]]
    if "algorithmImage" in query:
        hits = [h for h in hits if bool(h.get("algorithmImage")) == query["algorithmImage"]]
    if "pending" in query:
        hits = [h for h in hits if bool((h.get("options") or {}).get("pending")) == query["pending"]]
    limit = query.get("limit", DEFAULT_PAGE_SIZE)
    start = 0
    if "cursor" in query:
        names = [h["name"] for h in hits]
        start = names.index(query["cursor"]) + 1 if query["cursor"] in names else len(hits)
    elif "page" in query:
        start = (query["page"] - 1) * limit
    page = hits[start : start + limit]
    if "fields" in query:
        keep = {f.strip() for f in query["fields"].split(",") if f.strip()} | {"name"}
        page = [{k: v for k, v in h.items() if k in keep} for h in page]
    more = start + limit < len(hits)
    return {
        "hits": page,
        "cursor": page[-1]["name"] if page and more else None,
        "timeTook": round(time.perf_counter() - started, 3),
    }


GATEWAY_KIND = "gateway"
GATEWAY_SUFFIX = "-gateway"


def gateways() -> list[Algorithm]:
    """`gateway`: the algorithms a streaming pipeline's gateway nodes make (kind `gateway`)."""
    return list(Algorithm.objects.filter(descriptor__kind=GATEWAY_KIND).order_by("created", "name"))


def gateway(name: str) -> Algorithm | None:
    """`gateway/{name}`: by the gateway's name (its algorithm is `<name>-gateway`) or by the
    algorithm's own name."""
    names = [name] if name.endswith(GATEWAY_SUFFIX) else [f"{name}{GATEWAY_SUFFIX}", name]
    for candidate in names:
        found = Algorithm.objects.filter(name=candidate, descriptor__kind=GATEWAY_KIND).first()
        if found is not None:
            return found
    return None
