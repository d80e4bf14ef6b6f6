"""What a failed validation raises: HKube's message and Ajv's error objects.

A leaf module, so that `hkube_site.validation` and `hkube_site.units` both raise it and
neither imports the other's internals. Import it from `hkube_site.validation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ValidationError(Exception):
    """A descriptor failed validation; `message` is HKube's text, ready for a 400 body."""

    def __init__(self, message: str, errors: list[AjvError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors: list[AjvError] = errors or []


@dataclass(frozen=True)
class AjvError:
    """One Ajv error object: `keyword`, `data_path` (Ajv's `dataPath`), `message`, `params`."""

    keyword: str
    data_path: str
    message: str
    params: Mapping[str, Any] = field(default_factory=dict)
