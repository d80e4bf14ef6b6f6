"""A node's retry policy (`retry: {policy, limit}`), HKube's rules, named once.

- `OnCrash` (default): run again when the algorithm process or its worker died;
- `OnError`: run again when the algorithm reported an error;
- `Always`: both; `Never`: neither.
A task runs at most `limit + 1` times (default limit 3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

POLICIES = ("Never", "Always", "OnError", "OnCrash")
DEFAULT_POLICY = "OnCrash"
DEFAULT_LIMIT = 3


@dataclass(frozen=True)
class Retry:
    policy: str = DEFAULT_POLICY
    limit: int = DEFAULT_LIMIT

    def retries(self, *, crashed: bool) -> bool:
        """Whether this kind of failure is run again (attempts aside)."""
        if crashed:
            return self.policy in ("OnCrash", "Always")
        return self.policy in ("OnError", "Always")

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "limit": self.limit}


def retry_of(value: Mapping[str, Any] | None) -> Retry:
    """The policy of a node's `retry` (or of a task message's), defaults filled in."""
    value = value or {}
    limit = value.get("limit")
    return Retry(str(value.get("policy") or DEFAULT_POLICY), DEFAULT_LIMIT if limit is None else int(limit))
