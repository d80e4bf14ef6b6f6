"""HKube's `Object` scalar: any JSON value, passed through as it is."""

from __future__ import annotations

from typing import Any

from ariadne import ScalarType
from graphql import ValueNode, value_from_ast_untyped

object_scalar = ScalarType("Object")


@object_scalar.serializer
def serialize_object(value: Any) -> Any:
    return value


@object_scalar.value_parser
def parse_object_value(value: Any) -> Any:
    return value


@object_scalar.literal_parser
def parse_object_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)
