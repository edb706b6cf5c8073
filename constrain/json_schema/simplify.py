"""Exact set algebra on typed nodes: union, intersection, complement, emptiness.

``allOf`` is intersection, ``not`` is complement, ``oneOf`` is a union made disjoint,
``if/then/else`` is ``(if ∩ then) ∪ (¬if ∩ else)``. Each operation acts type by type:
scalar formulas combine symbolically (byte automata decide them later), shapes merge
structurally. What cannot be done exactly raises ``Inexpressible``; the keyword that
asked decides whether to refuse or (lenient) drop.

Operations look through references only at the top level. A reference nested in a
shape is combined lazily, as a derived definition named by the operation and its
operands, so recursive schemas stay finite.
"""

from __future__ import annotations

from dataclasses import replace

from constrain.json_schema.complement import complement_array, complement_object
from constrain.json_schema.context import Context, Inexpressible
from constrain.json_schema.nodes import (
    ANY,
    ANY_VALUE,
    NOTHING,
    ArrayShape,
    Node,
    ObjectShape,
    conjoin,
    disjoin,
    is_any,
    negate,
)
from constrain.json_schema.scalars import ScalarAutomata

ALL_KINDS = frozenset({"null", "boolean", "number", "string", "array", "object"})
_ANY_ARRAY = ArrayShape()
_ANY_OBJECT = ObjectShape()


def union(*nodes: Node) -> Node:
    """The union of nodes; shapes are kept side by side (a union of shapes is exact)."""
    if any(is_any(n) for n in nodes):
        return ANY
    return Node(
        null=any(n.null for n in nodes),
        booleans=frozenset().union(*(n.booleans for n in nodes)),
        number=disjoin(*(n.number for n in nodes)),
        string=disjoin(*(n.string for n in nodes)),
        arrays=_shape_union([s for n in nodes for s in n.arrays], _ANY_ARRAY),
        objects=_shape_union([s for n in nodes for s in n.objects], _ANY_OBJECT),
        refs=tuple(dict.fromkeys(r for n in nodes for r in n.refs)),
    )


def _shape_union(shapes: list, unconstrained: ArrayShape | ObjectShape) -> tuple:
    if unconstrained in shapes:
        return (unconstrained,)
    return tuple(dict.fromkeys(shapes))


class Algebra:
    """The operations that need definitions (to look through references) and automata."""

    def __init__(self, ctx: Context, scalars: ScalarAutomata):
        self.ctx = ctx
        self.scalars = scalars

    # -- references ----------------------------------------------------------------

    def expand(self, node: Node) -> Node:
        """``node`` with top-level references replaced by the bodies they name."""
        if not node.refs:
            return node
        parts, seen, pending = [replace(node, refs=())], set(), list(node.refs)
        while pending:
            key = pending.pop()
            if key in seen:
                continue
            seen.add(key)
            body = self.ctx.body(key)
            pending.extend(body.refs)
            parts.append(replace(body, refs=()))
        return union(*parts)

    # -- intersection --------------------------------------------------------------

    def intersect(self, *nodes: Node) -> Node:
        result = ANY
        for node in nodes:
            result = self._intersect2(result, node)
        return result

    def _intersect2(self, a: Node, b: Node) -> Node:
        if is_any(a) or a == b:
            return b
        if is_any(b):
            return a
        a, b = self.expand(a), self.expand(b)
        self.ctx.budget.check_time()
        return Node(
            null=a.null and b.null,
            booleans=a.booleans & b.booleans,
            number=conjoin(a.number, b.number),
            string=conjoin(a.string, b.string),
            arrays=self._merge_all(a.arrays, b.arrays, self.merge_arrays),
            objects=self._merge_all(a.objects, b.objects, self.merge_objects),
        )

    def _merge_all(self, left: tuple, right: tuple, merge) -> tuple:
        """Pairwise merges of two unions of shapes (a product: watch the budget)."""
        merged = []
        for x in left:
            self.ctx.budget.check_time()
            merged += [m for y in right if (m := merge(x, y)) is not None]
        return tuple(dict.fromkeys(merged))

    def intersect_nested(self, a: Node, b: Node, pointer: str) -> Node:
        """Intersection inside a shape: lazy (a derived definition) when references are involved."""
        if is_any(a) or a == b:
            return b
        if is_any(b):
            return a
        if a == NOTHING or b == NOTHING:
            return NOTHING
        if a.refs or b.refs:
            return self.ctx.derived(("and", frozenset((a, b))), lambda: self.intersect(a, b), pointer)
        return self.intersect(a, b)

    def merge_arrays(self, a: ArrayShape, b: ArrayShape) -> ArrayShape | None:
        """The shape of arrays in both ``a`` and ``b``; None when that is provably empty."""
        if a == _ANY_ARRAY:
            return b
        if b == _ANY_ARRAY:
            return a
        pointer = a.pointer or b.pointer
        length = max(len(a.prefix), len(b.prefix))
        prefix = tuple(
            self.intersect_nested(_position(a, i), _position(b, i), pointer) for i in range(length)
        )
        max_items = _min_bound(a.max_items, b.max_items)
        shape = ArrayShape(
            prefix=prefix if max_items is None else prefix[:max_items],
            items=self.intersect_nested(a.items, b.items, pointer),
            min_items=max(a.min_items, b.min_items),
            max_items=max_items,
            contains=tuple(dict.fromkeys(a.contains + b.contains)),
            unique=a.unique or b.unique,
            pointer=pointer,
        )
        return None if self.array_is_empty(shape, frozenset(), shallow=True) else shape

    def merge_objects(self, a: ObjectShape, b: ObjectShape) -> ObjectShape | None:
        """The shape of objects in both; declared keys get the other side's rule for them."""
        if a == _ANY_OBJECT:
            return b
        if b == _ANY_OBJECT:
            return a
        pointer = a.pointer or b.pointer
        implicit = a.implicit & b.implicit | (a.implicit - b.declared_keys) | (b.implicit - a.declared_keys)
        ordered = [k for shape in (a, b) for k, _ in shape.properties if k not in shape.implicit]
        keys = dict.fromkeys(ordered + [k for shape in (a, b) for k, _ in shape.properties])
        properties = tuple(
            (key, self.intersect_nested(self.value_for_key(a, key), self.value_for_key(b, key), pointer))
            for key in keys
        )
        shape = ObjectShape(
            properties=properties,
            required=a.required | b.required,
            implicit=implicit,
            key_rules=tuple(dict.fromkeys(a.key_rules + b.key_rules)),
            names=conjoin(a.names, b.names),
            min_properties=max(a.min_properties, b.min_properties),
            max_properties=_min_bound(a.max_properties, b.max_properties),
            witnesses=tuple(dict.fromkeys(a.witnesses + b.witnesses)),
            pointer=pointer,
        )
        return None if self.object_is_empty(shape, frozenset(), shallow=True) else shape

    def value_for_key(self, shape: ObjectShape, key: str) -> Node:
        """The schema ``shape`` gives the value of ``key`` (declared, by pattern, or additional)."""
        declared = shape.declared(key)
        if declared is not None:
            return declared
        value = ANY_VALUE
        for rule in shape.key_rules:
            matching = [node for pattern, node in rule.patterns if self.scalars.pattern_matches(pattern, key)]
            if not matching:
                matching = [ANY_VALUE if rule.additional is None else rule.additional]
            for node in matching:
                value = self.intersect_nested(value, node, shape.pointer)
        return value

    # -- complement ----------------------------------------------------------------

    def complement(self, node: Node, kinds: frozenset[str] = ALL_KINDS) -> Node:
        """Every JSON value not in ``node``; Inexpressible when a shape cannot be negated.

        Containers of kinds outside ``kinds`` are left unconstrained instead of negated,
        for callers that only need the complement where another schema overlaps.
        """
        if is_any(node):
            return NOTHING
        node = self.expand(node)
        arrays: tuple[ArrayShape, ...] = (_ANY_ARRAY,)
        for shape in node.arrays if "array" in kinds else ():
            arrays = self._merge_all(arrays, complement_array(self, shape), self.merge_arrays)
        objects: tuple[ObjectShape, ...] = (_ANY_OBJECT,)
        for shape in node.objects if "object" in kinds else ():
            objects = self._merge_all(objects, complement_object(self, shape), self.merge_objects)
        return Node(
            null=not node.null,
            booleans=frozenset({False, True}) - node.booleans,
            number=negate(node.number),
            string=negate(node.string),
            arrays=arrays,
            objects=objects,
        )

    def complement_nested(self, node: Node, keyword: str, pointer: str) -> Node:
        """Complement inside a shape; lazy for references (a failure then refuses ``keyword``)."""
        if is_any(node):
            return NOTHING
        if node == NOTHING:
            return ANY_VALUE
        if not node.refs:
            return self.complement(node)

        def compute() -> Node:
            try:
                return self.complement(node)
            except Inexpressible as error:
                self.ctx.refuse(keyword, str(error), pointer)
                return ANY_VALUE

        return self.ctx.derived(("not", node), compute, pointer)

    # -- emptiness -----------------------------------------------------------------

    def is_empty(self, node: Node, visiting: frozenset = frozenset()) -> bool:
        """True when ``node`` provably has no instance (False may also mean "unknown")."""
        if node.null or node.booleans:
            return False
        if not self.scalars.number_is_empty(node.number) or not self.scalars.string_is_empty(node.string):
            return False
        if any(not self.array_is_empty(s, visiting) for s in node.arrays):
            return False
        if any(not self.object_is_empty(s, visiting) for s in node.objects):
            return False
        for key in node.refs:
            if key in visiting:
                return False
            body = self.ctx.body(key)
            if not self.ctx.is_settled(key) or not self.is_empty(body, visiting | {key}):
                return False
        return True

    def overlap(self, a: Node, b: Node) -> frozenset[str]:
        """The kinds of JSON value (``ALL_KINDS``) that may be instances of both."""
        both = self.expand(self.intersect(a, b))
        kinds = {
            "null": both.null,
            "boolean": bool(both.booleans),
            "number": not self.scalars.number_is_empty(both.number),
            "string": not self.scalars.string_is_empty(both.string),
            "array": any(not self.array_is_empty(s, frozenset()) for s in both.arrays),
            "object": any(not self.object_is_empty(s, frozenset()) for s in both.objects),
        }
        return frozenset(kind for kind, possible in kinds.items() if possible)

    def disjoint(self, a: Node, b: Node) -> bool:
        """True when no value is an instance of both (provably)."""
        return not self.overlap(a, b)

    def array_is_empty(self, shape: ArrayShape, visiting: frozenset, *, shallow: bool = False) -> bool:
        """Provably empty; ``shallow`` skips the item schemas (cheap checks while merging)."""
        upper = shape.max_items
        if upper is not None and shape.min_items > upper:
            return True
        for clause in shape.contains:
            if (clause.maximum is not None and clause.minimum > clause.maximum) or (
                upper is not None and clause.minimum > upper
            ):
                return True
        if shallow:
            return False
        required_positions = range(min(shape.min_items, len(shape.prefix) + 1))
        if any(self.is_empty(_position(shape, i), visiting) for i in required_positions):
            return True
        return any(c.minimum > 0 and self.is_empty(c.node, visiting) for c in shape.contains)

    def object_is_empty(self, shape: ObjectShape, visiting: frozenset, *, shallow: bool = False) -> bool:
        upper = shape.max_properties
        if upper is not None and (shape.min_properties > upper or len(shape.required) > upper):
            return True
        if upper == 0 and shape.witnesses:
            return True
        for key, value in shape.properties:
            if key in shape.required and (
                value == NOTHING or (not shallow and self.is_empty(value, visiting))
            ):
                return True
        if shallow:
            return False
        return any(not self.scalars.key_allowed(shape.names, key) for key in shape.required)


def _position(shape: ArrayShape, index: int) -> Node:
    return shape.prefix[index] if index < len(shape.prefix) else shape.items


def _min_bound(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)
