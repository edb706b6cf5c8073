"""Checked reading of keyword values, and the nodes of ``const``/``enum`` literals.

Every reader raises ``SchemaError`` with the keyword's pointer when the value has the
wrong type, so an invalid schema is reported where it is wrong, not deep inside.
"""

from __future__ import annotations

import math
from typing import Any

from constrain.errors import SchemaError
from constrain.json_schema.nodes import NOTHING, ArrayShape, KeyRule, Node, ObjectShape, Values, only

JSON_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")


def read_types(value: Any, pointer: str) -> frozenset[str]:
    """The ``type`` keyword as a set of type names."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SchemaError("'type' must be a type name or a list of type names", pointer=pointer)
    for name in names:
        if name not in JSON_TYPES:
            raise SchemaError(f"unknown type {name!r}", pointer=pointer)
    if len(set(names)) != len(names):
        raise SchemaError("'type' lists a type twice", pointer=pointer)
    return frozenset(names)


def read_count(value: Any, pointer: str) -> int:
    """A non-negative integer (``2.0`` counts as ``2``, as the spec allows)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SchemaError("must be a non-negative integer", pointer=pointer)
    return value


def read_number(value: Any, pointer: str) -> int | float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise SchemaError("must be a finite number", pointer=pointer)
    return value


def read_positive_number(value: Any, pointer: str) -> int | float:
    number = read_number(value, pointer)
    if number <= 0:
        raise SchemaError("must be greater than 0", pointer=pointer)
    return number


def read_bool(value: Any, pointer: str) -> bool:
    if not isinstance(value, bool):
        raise SchemaError("must be a boolean", pointer=pointer)
    return value


def read_string(value: Any, pointer: str) -> str:
    if not isinstance(value, str):
        raise SchemaError("must be a string", pointer=pointer)
    return value


def read_names(value: Any, pointer: str) -> list[str]:
    """A list of distinct strings (``required``, a ``dependentRequired`` entry)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SchemaError("must be a list of strings", pointer=pointer)
    if len(set(value)) != len(value):
        raise SchemaError("must not list a name twice", pointer=pointer)
    return value


def read_schema_map(value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(v, dict | bool) for v in value.values()):
        raise SchemaError("must be an object whose values are schemas", pointer=pointer)
    return value


def read_schema_list(value: Any, pointer: str, *, non_empty: bool = True) -> list[Any]:
    if not isinstance(value, list) or not all(isinstance(v, dict | bool) for v in value):
        raise SchemaError("must be a list of schemas", pointer=pointer)
    if non_empty and not value:
        raise SchemaError("must be a non-empty list of schemas", pointer=pointer)
    return value


def read_schema(value: Any, pointer: str) -> dict[str, Any] | bool:
    if not isinstance(value, dict | bool):
        raise SchemaError("must be a schema (an object or a boolean)", pointer=pointer)
    return value


def literal_node(value: Any, pointer: str) -> Node:
    """The node of exactly one JSON value (numbers by value: ``1`` also matches ``1.0``).

    An object literal's keys appear in the literal's own order, as declared properties do.
    """
    if value is None:
        return only(null=True)
    if isinstance(value, bool):
        return only(booleans=frozenset({value}))
    if isinstance(value, int | float):
        return only(number=Values(frozenset({read_number(value, pointer)})))
    if isinstance(value, str):
        return only(string=Values(frozenset({value})))
    if isinstance(value, list):
        prefix = tuple(literal_node(item, pointer) for item in value)
        shape = ArrayShape(
            prefix=prefix, items=NOTHING, min_items=len(value), max_items=len(value), pointer=pointer
        )
        return only(arrays=(shape,))
    if isinstance(value, dict):
        shape = ObjectShape(
            properties=tuple((key, literal_node(item, pointer)) for key, item in value.items()),
            required=frozenset(value),
            key_rules=(KeyRule(additional=NOTHING),),
            pointer=pointer,
        )
        return only(objects=(shape,))
    raise SchemaError(f"{type(value).__name__} is not a JSON value", pointer=pointer)
