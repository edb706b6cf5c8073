"""Complements of array and object shapes: the union of the negations of their constraints.

A shape is a conjunction of independent constraints (a length bound, one position's
schema, one key's presence or value, the rule for undeclared keys...), so its
complement is the union of shapes that each break one of them. The two quantified ones
swap: "every item is in S" negates to "contains an item outside S", and "every
undeclared key's value obeys the rules" to a ``Witness`` ("some member breaks them").
Only ``uniqueItems`` and items after ``prefixItems`` have no negation here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from constrain.json_schema.context import Inexpressible
from constrain.json_schema.nodes import (
    ANY_VALUE,
    NOTHING,
    TRUE,
    ArrayShape,
    Contains,
    ObjectShape,
    Values,
    Witness,
    disjoin,
    is_any,
    key_shape,
    negate,
)

if TYPE_CHECKING:
    from constrain.json_schema.simplify import Algebra


def complement_array(algebra: Algebra, shape: ArrayShape) -> tuple[ArrayShape, ...]:
    """Arrays outside ``shape``, as a union of shapes."""
    if shape == ArrayShape():
        return ()
    if shape.unique:
        raise Inexpressible("the negation of 'uniqueItems' cannot be expressed")
    pointer = shape.pointer
    parts: list[ArrayShape] = []
    if shape.min_items > 0:
        parts.append(ArrayShape(max_items=shape.min_items - 1, pointer=pointer))
    if shape.max_items is not None:
        parts.append(ArrayShape(min_items=shape.max_items + 1, pointer=pointer))
    for i, item in enumerate(shape.prefix):
        if not is_any(item):
            negated = algebra.complement_nested(item, "not", pointer)
            parts.append(ArrayShape(prefix=(ANY_VALUE,) * i + (negated,), min_items=i + 1, pointer=pointer))
    if shape.items == NOTHING:
        parts.append(ArrayShape(min_items=len(shape.prefix) + 1, pointer=pointer))
    elif not is_any(shape.items):
        if shape.prefix:
            raise Inexpressible("the negation of 'items' after 'prefixItems' cannot be expressed")
        negated = algebra.complement_nested(shape.items, "not", pointer)
        parts.append(ArrayShape(contains=(Contains(negated),), pointer=pointer))
    for clause in shape.contains:
        if clause.minimum > 0:
            parts.append(
                ArrayShape(contains=(Contains(clause.node, 0, clause.minimum - 1),), pointer=pointer)
            )
        if clause.maximum is not None:
            parts.append(ArrayShape(contains=(Contains(clause.node, clause.maximum + 1),), pointer=pointer))
    return tuple(parts)


def complement_object(algebra: Algebra, shape: ObjectShape) -> tuple[ObjectShape, ...]:
    """Objects outside ``shape``, as a union of shapes."""
    if shape == ObjectShape():
        return ()
    pointer = shape.pointer
    parts: list[ObjectShape] = []
    if shape.min_properties > 0:
        parts.append(ObjectShape(max_properties=shape.min_properties - 1, pointer=pointer))
    if shape.max_properties is not None:
        parts.append(ObjectShape(min_properties=shape.max_properties + 1, pointer=pointer))
    for key, value in shape.properties:
        if key in shape.required:
            parts.append(key_shape({key: NOTHING}, required=False, pointer=pointer))
        if not is_any(value):
            negated = algebra.complement_nested(value, "not", pointer)
            parts.append(
                key_shape({key: negated}, required=True, pointer=pointer, implicit=key in shape.implicit)
            )
    if shape.names != TRUE:
        parts.append(ObjectShape(witnesses=(Witness(names=negate(shape.names)),), pointer=pointer))
    rules = tuple(rule for rule in shape.key_rules if rule.patterns or not _accepts_all(rule.additional))
    if rules:
        witness = Witness(excluded=shape.declared_keys, rules=rules)
        parts.append(ObjectShape(witnesses=(witness,), pointer=pointer))
    parts += [_no_witness(witness, pointer) for witness in shape.witnesses]
    return tuple(parts)


def _accepts_all(additional) -> bool:
    return additional is None or is_any(additional)


def _no_witness(witness: Witness, pointer: str) -> ObjectShape:
    """Objects in which no member meets ``witness``."""
    if witness.rules is None:  # no key outside ``excluded`` satisfies the names
        allowed = (
            disjoin(negate(witness.names), Values(witness.excluded))
            if witness.excluded
            else negate(witness.names)
        )
        return ObjectShape(names=allowed, pointer=pointer)
    if witness.names != TRUE:
        raise Inexpressible("the negation of 'propertyNames' together with key rules cannot be expressed")
    keys = key_shape(dict.fromkeys(sorted(witness.excluded), ANY_VALUE), required=False, pointer=pointer)
    return ObjectShape(
        properties=keys.properties, implicit=keys.implicit, key_rules=witness.rules, pointer=pointer
    )
