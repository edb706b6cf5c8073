"""The ``type`` keyword together with the keywords that constrain one type each.

A type-specific keyword constrains only its type (``minLength`` says nothing about
numbers), so the node of ``{"minLength": 2}`` admits every non-string and the strings
of length >= 2. ``type: integer`` is a number formula with ``integer`` set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from constrain.json_lexemes.formats import SPECIFIED_FORMATS
from constrain.json_schema.drafts import DRAFT4, Keywords
from constrain.json_schema.keywords import (
    read_bool,
    read_count,
    read_names,
    read_number,
    read_positive_number,
    read_schema_list,
    read_schema_map,
    read_string,
    read_types,
)
from constrain.json_schema.nodes import (
    ANY_NUMBER,
    ANY_VALUE,
    DIGITS_INTEGER,
    FALSE,
    INTEGER,
    TRUE,
    ArrayShape,
    Contains,
    Formula,
    KeyRule,
    Node,
    NumberAtom,
    ObjectShape,
    StringAtom,
    is_any,
)
from constrain.json_schema.refs import Location, child_pointer

if TYPE_CHECKING:
    from constrain.json_schema.lower import Lowerer

_IN_PLACE_APPLICATORS = (
    "$ref",
    "$dynamicRef",
    "$recursiveRef",
    "allOf",
    "anyOf",
    "oneOf",
    "if",
    "dependentSchemas",
)
_ALL_TYPES = frozenset({"null", "boolean", "number", "string", "array", "object"})


class TypeLowering:
    def __init__(self, lowerer: Lowerer):
        self.lowerer = lowerer
        self.ctx = lowerer.ctx

    def typed(self, keywords: Keywords, location: Location) -> Node:
        values = keywords.values
        types = _ALL_TYPES
        if "type" in values:
            types = read_types(values["type"], child_pointer(location.pointer, "type"))
        at = _Pointers(keywords, location.pointer)
        is_number = "number" in types or "integer" in types
        return Node(
            null="null" in types,
            booleans=frozenset({False, True}) if "boolean" in types else frozenset(),
            number=self._number(values, at, integer=_integer_kind(types, location.draft))
            if is_number
            else FALSE,
            string=self._string(values, at) if "string" in types else FALSE,
            arrays=(self._array(values, at),) if "array" in types else (),
            objects=(self._object(values, at),) if "object" in types else (),
        )

    # -- scalars -------------------------------------------------------------------

    def _number(self, values: dict[str, Any], at: _Pointers, *, integer: int) -> Formula:
        bounds = {}
        for keyword, field in (
            ("minimum", "minimum"),
            ("maximum", "maximum"),
            ("exclusiveMinimum", "exclusive_minimum"),
            ("exclusiveMaximum", "exclusive_maximum"),
        ):
            if keyword in values:
                bounds[field] = read_number(values[keyword], at(keyword))
        if "multipleOf" in values:
            bounds["multiple_of"] = read_positive_number(values["multipleOf"], at("multipleOf"))
        atom = NumberAtom(integer=integer, **bounds, pointer=at.base)
        return TRUE if atom == NumberAtom() else atom

    def _string(self, values: dict[str, Any], at: _Pointers) -> Formula:
        fields: dict[str, Any] = {}
        if "minLength" in values:
            fields["min_length"] = read_count(values["minLength"], at("minLength"))
        if "maxLength" in values:
            fields["max_length"] = read_count(values["maxLength"], at("maxLength"))
        if "pattern" in values:
            pattern = self.lowerer.scalars.check_pattern(
                read_string(values["pattern"], at("pattern")), at("pattern")
            )
            if pattern is not None and not self.lowerer.scalars.pattern_is_trivial(pattern):
                fields["pattern"] = pattern
        if "format" in values:
            name = read_string(values["format"], at("format"))
            if self.lowerer.scalars.format_supported(name):
                fields["format"] = name
            elif name in SPECIFIED_FORMATS:
                self.ctx.refuse("format", f"format {name!r} cannot be enforced exactly", at("format"))
            else:
                self.ctx.warn(f"unknown format {name!r} at {at('format')} is ignored (an annotation)")
        atom = StringAtom(**fields, pointer=at.base)
        return TRUE if atom == StringAtom() else atom

    # -- arrays --------------------------------------------------------------------

    def _array(self, values: dict[str, Any], at: _Pointers) -> ArrayShape:
        nested = self.lowerer.nested
        prefix: tuple[Node, ...] = ()
        if "prefixItems" in values:
            schemas = read_schema_list(values["prefixItems"], at("prefixItems"), non_empty=False)
            prefix = tuple(nested(s, at("prefixItems", i)) for i, s in enumerate(schemas))
        items = nested(values["items"], at("items")) if "items" in values else ANY_VALUE
        items = self._unevaluated_items(values, at, items)
        min_items = read_count(values.get("minItems", 0), at("minItems"))
        max_items = read_count(values["maxItems"], at("maxItems")) if "maxItems" in values else None
        contains: tuple[Contains, ...] = ()
        if "contains" in values:
            node = nested(values["contains"], at("contains"))
            low = read_count(values.get("minContains", 1), at("minContains"))
            high = read_count(values["maxContains"], at("maxContains")) if "maxContains" in values else None
            if is_any(node):  # every item counts: plain length bounds
                min_items = max(min_items, low)
                max_items = (
                    high if max_items is None or (high is not None and high < max_items) else max_items
                )
            elif low > 0 or high is not None:  # "at least 0" alone says nothing
                contains = (Contains(node, low, high),)
        unique = read_bool(values.get("uniqueItems", False), at("uniqueItems"))
        return ArrayShape(prefix, items, min_items, max_items, contains, unique, pointer=at.base)

    def _unevaluated_items(self, values: dict[str, Any], at: _Pointers, items: Node) -> Node:
        """``unevaluatedItems`` where it is plain: no in-place applicator evaluates items."""
        if "unevaluatedItems" not in values or values["unevaluatedItems"] in (True, {}) or "items" in values:
            return items
        if any(k in values for k in (*_IN_PLACE_APPLICATORS, "contains")):
            self.ctx.refuse(
                "unevaluatedItems", "only supported without in-place applicators", at("unevaluatedItems")
            )
            return items
        return self.lowerer.nested(values["unevaluatedItems"], at("unevaluatedItems"))

    # -- objects -------------------------------------------------------------------

    def _object(self, values: dict[str, Any], at: _Pointers) -> ObjectShape:
        nested, algebra = self.lowerer.nested, self.lowerer.algebra
        properties = read_schema_map(values.get("properties", {}), at("properties"))
        patterns = read_schema_map(values.get("patternProperties", {}), at("patternProperties"))
        pattern_nodes = tuple(
            (p, nested(s, at("patternProperties", p)))
            for p, s in patterns.items()
            if self.lowerer.scalars.check_pattern(p, at("patternProperties", p)) is not None
        )
        additional = None
        if "additionalProperties" in values:
            additional = nested(values["additionalProperties"], at("additionalProperties"))
        additional = self._unevaluated_properties(values, at, additional)
        rule = KeyRule(pattern_nodes, additional)
        rules = (rule,) if (properties or patterns or additional is not None) else ()
        undeclared = ObjectShape(key_rules=(KeyRule(pattern_nodes),), pointer=at.base)
        declared = []
        for name, schema in properties.items():
            value = nested(schema, at("properties", name))
            declared.append(
                (name, algebra.intersect_nested(value, algebra.value_for_key(undeclared, name), at.base))
            )
        required = read_names(values.get("required", []), at("required"))
        lookup = ObjectShape(key_rules=rules, pointer=at.base)
        declared += [
            (name, algebra.value_for_key(lookup, name)) for name in required if name not in properties
        ]
        return ObjectShape(
            properties=tuple(declared),
            required=frozenset(required),
            implicit=frozenset(required) - frozenset(properties),
            key_rules=rules,
            names=self._names(values, at),
            min_properties=read_count(values.get("minProperties", 0), at("minProperties")),
            max_properties=(
                read_count(values["maxProperties"], at("maxProperties"))
                if "maxProperties" in values
                else None
            ),
            pointer=at.base,
        )

    def _unevaluated_properties(
        self, values: dict[str, Any], at: _Pointers, additional: Node | None
    ) -> Node | None:
        """``unevaluatedProperties`` where it is plain: it then acts as ``additionalProperties``."""
        keyword = "unevaluatedProperties"
        if keyword not in values or values[keyword] in (True, {}) or "additionalProperties" in values:
            return additional
        if any(k in values for k in _IN_PLACE_APPLICATORS):
            self.ctx.refuse(keyword, "only supported without in-place applicators", at(keyword))
            return additional
        return self.lowerer.nested(values[keyword], at(keyword))

    def _names(self, values: dict[str, Any], at: _Pointers) -> Formula:
        """``propertyNames`` as a string formula (keys are strings; other types are moot)."""
        if "propertyNames" not in values:
            return TRUE
        node = self.lowerer.in_place(values["propertyNames"], at("propertyNames"))
        return self.lowerer.algebra.expand(node).string


def _integer_kind(types: frozenset[str], draft: int) -> int:
    """Which numbers ``type`` allows: all, integer-valued, or (draft-04) fraction-free texts."""
    if "number" in types:
        return ANY_NUMBER
    return DIGITS_INTEGER if draft <= DRAFT4 else INTEGER


class _Pointers:
    """Pointers of a schema's keywords, in the user's spelling of renamed keywords."""

    def __init__(self, keywords: Keywords, base: str):
        self.keywords = keywords
        self.base = base

    def __call__(self, keyword: str, *tokens: str | int) -> str:
        return child_pointer(self.base, self.keywords.source(keyword), *tokens)
