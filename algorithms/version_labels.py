"""Labels on algorithm versions (`versions/algorithms/tag` and `/alias`): what a user calls
a version, never what runs."""

from __future__ import annotations

from typing import Any

from algorithms.models import Algorithm, AlgorithmVersion
from hkube_site.errors import InvalidData, NotFound

ALIAS_MAX = 64


def _version(name: str, version: str) -> AlgorithmVersion:
    if not Algorithm.objects.filter(name=name).exists():
        raise NotFound("algorithm", name)
    found = AlgorithmVersion.objects.filter(algorithm_name=name, version=version).first()
    if found is None:
        raise NotFound("version", version)
    return found


def tag_version(name: str, version: str, *, pinned: bool, tags: list[str]) -> dict[str, Any]:
    """Replace a version's tags and pin flag (HKube's `versions/algorithms/tag`)."""
    found = _version(name, version)
    found.pinned = pinned
    found.tags = list(dict.fromkeys(tags))
    found.save(update_fields=["pinned", "tags"])
    return found.as_api()


def alias_version(name: str, version: str, alias: str) -> dict[str, Any]:
    if len(alias) > ALIAS_MAX:
        raise InvalidData(f"data.alias should NOT be longer than {ALIAS_MAX} characters")
    found = _version(name, version)
    found.alias = alias
    found.save(update_fields=["alias"])
    return found.as_api()
