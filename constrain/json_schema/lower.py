"""Lowering: a schema object becomes a typed ``Node``, keyword by keyword.

A schema is the intersection of its keywords' meanings: the ``type`` keyword with the
type-specific ones (see ``lower_types``), ``const``/``enum``, the in-place applicators
(``$ref``, ``allOf``, ``anyOf``, ``oneOf``, ``not``, ``if``, ``dependent*``). In-place
subschemas are lowered at once; subschemas in value positions (a property, the items)
that mention a reference are lowered lazily through a definition, which is what keeps
recursive schemas finite.
"""

from __future__ import annotations

from typing import Any

from constrain.errors import SchemaError, UnsupportedSchemaError
from constrain.json_schema.context import Context, Inexpressible, Options
from constrain.json_schema.drafts import DRAFT2019, Keywords, normalize_keywords
from constrain.json_schema.keywords import (
    literal_node,
    read_names,
    read_schema,
    read_schema_list,
    read_schema_map,
)
from constrain.json_schema.lower_types import TypeLowering
from constrain.json_schema.nodes import (
    ANY,
    ANY_VALUE,
    NOTHING,
    Node,
    any_but_objects,
    key_shape,
    only,
)
from constrain.json_schema.refs import Location, SchemaDocument, child_pointer
from constrain.json_schema.scalars import ScalarAutomata
from constrain.json_schema.simplify import Algebra, union

_REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


class Lowerer:
    """Lowers one schema document; ``root()`` is the node of the whole schema."""

    def __init__(self, schema: Any, options: Options):
        self.document = SchemaDocument(schema)
        self.ctx = Context(options, self._lower_pointer)
        self.scalars = ScalarAutomata(self.ctx)
        self.algebra = Algebra(self.ctx, self.scalars)
        self.types = TypeLowering(self)
        self._mentions_reference: dict[int, bool] = {}

    def root(self) -> Node:
        return self.ctx.body("#")

    def _lower_pointer(self, pointer: str) -> Node:
        return self.lower(self.document.value_at(pointer), self.document.location(pointer))

    def nested(self, raw: Any, pointer: str) -> Node:
        """A subschema in a value position: inline unless it mentions a reference."""
        read_schema(raw, pointer)
        if raw is True or raw == {}:
            return ANY_VALUE
        if raw is False:
            return NOTHING
        if self._mentions_ref(raw):
            return self.ctx.reference(pointer)
        return self.lower(raw, self.document.location(pointer))

    def _mentions_ref(self, raw: Any) -> bool:
        key = id(raw)
        if key not in self._mentions_reference:
            if isinstance(raw, dict):
                found = any(k in raw for k in _REFERENCE_KEYWORDS) or any(
                    map(self._mentions_ref, raw.values())
                )
            elif isinstance(raw, list):
                found = any(map(self._mentions_ref, raw))
            else:
                found = False
            self._mentions_reference[key] = found
        return self._mentions_reference[key]

    def in_place(self, raw: Any, pointer: str, context: Node = ANY) -> Node:
        """A subschema applied to the same instance (``allOf`` member, ``not``, ``if``...)."""
        read_schema(raw, pointer)
        return self.lower(raw, self.document.location(pointer), context)

    def lower(self, raw: Any, location: Location, context: Node = ANY) -> Node:
        """The node of ``raw`` intersected with ``context`` (what is already known to hold).

        Keywords are applied in order onto the running intersection, so the branches of
        ``anyOf``/``oneOf``/``if`` are lowered already restricted by their siblings: a
        ``oneOf`` under ``type: object`` only has to be disjoint among objects.
        """
        if raw is True:
            return context
        if raw is False:
            return NOTHING
        if not isinstance(raw, dict):
            raise SchemaError("a schema must be an object or a boolean", pointer=location.pointer)
        budget = self.ctx.budget
        budget.check_time(location.pointer)
        outer, budget.where = budget.where, location.pointer
        try:
            keywords = normalize_keywords(raw, location.draft, location.pointer)
            node = self.algebra.intersect(
                context,
                self.types.typed(keywords, location),
                *self._references(keywords, location),
                *self._literals(keywords, location),
            )
            node = self._applicators(keywords, location, node)
            return self.algebra.intersect(node, *self._dependents(keywords, location))
        finally:
            budget.where = outer

    # -- keywords ------------------------------------------------------------------

    def _references(self, keywords: Keywords, location: Location) -> list[Node]:
        """``$ref`` (and the dynamic kinds where they reduce to it); a remote one is refused."""
        values, parts = keywords.values, []
        resolvers = {
            "$ref": self.document.resolve,
            "$dynamicRef": self.document.resolve_dynamic,
            "$recursiveRef": self.document.resolve_recursive,
        }
        for keyword, resolve in resolvers.items():
            if keyword not in values or (keyword != "$ref" and location.draft < DRAFT2019):
                continue
            try:
                parts.append(self.ctx.reference(resolve(values[keyword], location).pointer))
            except UnsupportedSchemaError as error:
                self.ctx.refuse_error(error, location.pointer)
        return parts

    def _literals(self, keywords: Keywords, location: Location) -> list[Node]:
        values, parts = keywords.values, []
        if "const" in values:
            parts.append(literal_node(values["const"], child_pointer(location.pointer, "const")))
        if "enum" in values:
            pointer = child_pointer(location.pointer, "enum")
            if not isinstance(values["enum"], list):
                raise SchemaError("'enum' must be a list", pointer=pointer)
            parts.append(union(NOTHING, *(literal_node(v, pointer) for v in values["enum"])))
        return parts

    def _applicators(self, keywords: Keywords, location: Location, node: Node) -> Node:
        values = keywords.values

        def members(keyword: str) -> list[tuple[Any, str]]:
            pointer = child_pointer(location.pointer, keyword)
            schemas = read_schema_list(values[keyword], pointer)
            return [(s, child_pointer(pointer, i)) for i, s in enumerate(schemas)]

        for schema, pointer in members("allOf") if "allOf" in values else ():
            node = self.in_place(schema, pointer, node)
        if "anyOf" in values:
            node = union(NOTHING, *(self.in_place(s, p, node) for s, p in members("anyOf")))
        if "oneOf" in values:
            node = self.exactly_one(members("oneOf"), node, child_pointer(location.pointer, "oneOf"))
        if "not" in values:
            pointer = child_pointer(location.pointer, "not")
            negated = self.in_place(values["not"], pointer)
            try:
                node = self.algebra.intersect(node, self.algebra.complement(negated))
            except Inexpressible as error:
                self.ctx.refuse("not", str(error), pointer)
        if "if" in values:
            node = self._conditional(values, location, node)
        return node

    def exactly_one(self, members: list[tuple[Any, str]], context: Node, pointer: str) -> Node:
        """``oneOf``: each branch minus the branches it may overlap (complements must exist).

        Branches are restricted by ``context`` first (overlaps outside it do not matter).
        A branch is subtracted in its unrestricted form, and only for the kinds of value
        (objects, arrays, ...) where the two overlap: its complement is simpler so.
        """
        branches = [self.in_place(schema, at, context) for schema, at in members]
        overlaps: dict[tuple[int, int], frozenset[str]] = {}
        for i in range(len(branches)):
            for j in range(i + 1, len(branches)):
                self.ctx.budget.check_time(pointer)
                kinds = self.algebra.overlap(branches[i], branches[j])
                if kinds:
                    overlaps[(i, j)] = overlaps[(j, i)] = kinds
        if not overlaps:
            return union(NOTHING, *branches)
        unrestricted: dict[int, Node] = {}
        exclusive = []
        for i, branch in enumerate(branches):
            for j in range(len(branches)):
                if (i, j) not in overlaps:
                    continue
                if j not in unrestricted:
                    unrestricted[j] = self.in_place(*members[j])
                try:
                    branch = self.algebra.intersect(
                        branch, self.algebra.complement(unrestricted[j], overlaps[(i, j)])
                    )
                except Inexpressible as error:
                    self.ctx.refuse(
                        "oneOf",
                        f"branches {i} and {j} may overlap and cannot be made disjoint ({error})",
                        pointer,
                    )
                    return union(NOTHING, *branches)
            exclusive.append(branch)
        return union(NOTHING, *exclusive)

    def _conditional(self, values: dict[str, Any], location: Location, context: Node) -> Node:
        """``if``/``then``/``else`` as ``(if ∩ then) ∪ (¬if ∩ else)``, within ``context``."""
        if "then" not in values and "else" not in values:
            return context
        pointer = child_pointer(location.pointer, "if")
        condition = self.in_place(values["if"], pointer)
        holds = self.algebra.intersect(context, condition)
        then_pointer, else_pointer = (child_pointer(location.pointer, k) for k in ("then", "else"))
        if "then" not in values:
            return union(holds, self.in_place(values["else"], else_pointer, context))
        then = self.in_place(values["then"], then_pointer, holds)
        try:
            fails = self.algebra.intersect(context, self.algebra.complement(condition))
        except Inexpressible as error:
            self.ctx.refuse("if", str(error), pointer)
            return context
        otherwise = self.in_place(values["else"], else_pointer, fails) if "else" in values else fails
        return union(then, otherwise)

    def _dependents(self, keywords: Keywords, location: Location) -> list[Node]:
        """``dependentRequired``/``dependentSchemas``: "key absent, or present and ...".

        Each becomes a union of two object shapes (the key forbidden, or required), so a
        schema with ``k`` dependencies has up to ``2**k`` object alternatives.
        """
        values, parts = keywords.values, []
        if "dependentRequired" in values:
            pointer = child_pointer(location.pointer, keywords.source("dependentRequired"))
            if not isinstance(values["dependentRequired"], dict):
                raise SchemaError("'dependentRequired' must be an object", pointer=pointer)
            for key, names in values["dependentRequired"].items():
                names = read_names(names, child_pointer(pointer, key))
                if names:
                    keys = dict.fromkeys([*names, key], ANY_VALUE)
                    present = key_shape(keys, required=True, pointer=pointer)
                    parts.append(
                        any_but_objects((key_shape({key: NOTHING}, required=False, pointer=pointer), present))
                    )
        if "dependentSchemas" in values:
            pointer = child_pointer(location.pointer, keywords.source("dependentSchemas"))
            for key, schema in read_schema_map(values["dependentSchemas"], pointer).items():
                consequence = self.in_place(schema, child_pointer(pointer, key))
                present = only(objects=(key_shape({key: ANY_VALUE}, required=True, pointer=pointer),))
                absent = any_but_objects((key_shape({key: NOTHING}, required=False, pointer=pointer),))
                parts.append(union(absent, self.algebra.intersect(present, consequence)))
        return parts
