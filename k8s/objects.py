"""Between the client's typed models and the camelCase JSON users and the API server speak.

`to_model` reads a fragment a descriptor carries (a volume, a toleration, an env `valueFrom`)
into its client model and refuses what the model would silently drop (a misspelt field),
naming it; `to_json` is the API server's shape of a model (`sanitize_for_serialization`,
not `.to_dict()`, whose keys are snake_case). Plain Python.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from kubernetes import client


class SpecError(ValueError):
    """A descriptor fragment that is not a valid Kubernetes object; the message names it."""


class _Body:
    """The shape `ApiClient.deserialize` reads: a response with JSON in `.data`."""

    def __init__(self, data: Any) -> None:
        self.data = json.dumps(data)


@lru_cache(maxsize=1)
def _codec() -> client.ApiClient:
    return client.ApiClient(client.Configuration())


def to_json(model: Any) -> Any:
    """A model (or a list/dict of them) as the API server's JSON: camelCase, no nulls."""
    return _codec().sanitize_for_serialization(model)


def to_model(data: Any, model: str, what: str) -> Any:
    """`data` (camelCase JSON) as the client model named `model` (`"V1Volume"`); `what` names it
    in errors, e.g. `volumes[0]`."""
    try:
        result = _codec().deserialize(_Body(data), model)
    except (ValueError, TypeError, AttributeError) as exc:
        raise SpecError(f"{what} is not a valid {model[2:] or model}: {exc}") from exc
    dropped = _dropped(_without_nulls(data), to_json(result), what)
    if dropped:
        raise SpecError(f"{what} has field(s) Kubernetes does not know: {', '.join(dropped)}")
    return result


def _without_nulls(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _without_nulls(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_without_nulls(v) for v in data]
    return data


def _dropped(original: Any, kept: Any, path: str) -> list[str]:
    """Paths of keys present in `original` and missing after the round trip."""
    if isinstance(original, Mapping):
        if not isinstance(kept, Mapping):
            return [path] if original else []
        found: list[str] = []
        for key, value in original.items():
            if key not in kept:
                found.append(f"{path}.{key}")
            else:
                found.extend(_dropped(value, kept[key], f"{path}.{key}"))
        return found
    if isinstance(original, list) and isinstance(kept, list):
        found = []
        for index, (a, b) in enumerate(zip(original, kept, strict=False)):
            found.extend(_dropped(a, b, f"{path}[{index}]"))
        return found
    return []
