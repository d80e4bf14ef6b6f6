"""What every resolver receives: `info.context` is a dict holding the request (and what a
resolver caches for the rest of the request)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

Info = GraphQLResolveInfo[dict[str, Any]]
