"""The typed normal form a schema is lowered to before it becomes grammar rules.

A ``Node`` is a union split by JSON type: whether ``null`` is allowed, which booleans,
a formula over number texts, a formula over string texts, a union of array shapes, a
union of object shapes, and references to named definitions (how recursion stays
finite). Splitting by type is what makes ``allOf`` (intersection), ``not`` (complement)
and ``oneOf`` (disjointness) computable: they act type by type, exactly on the scalar
formulas (which become byte automata) and structurally on shapes.

Scalar formulas are trees of ``And``/``Or``/``Not`` over atoms; ``And(())`` is "every
value of the type" and ``Or(())`` is "none". ``Not`` is complement within the type.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

Number = int | float


@dataclass(frozen=True)
class StringAtom:
    """Strings with a code-point length range, an ECMA ``pattern`` (search) and a ``format``."""

    min_length: int = 0
    max_length: int | None = None
    pattern: str | None = None
    format: str | None = None
    pointer: str = field(default="", compare=False)


ANY_NUMBER, INTEGER, DIGITS_INTEGER = 0, 1, 2


@dataclass(frozen=True)
class NumberAtom:
    """Numbers within bounds and multiples of ``multiple_of``; ``integer`` narrows the kind.

    ``integer``: ``ANY_NUMBER``, ``INTEGER`` (integer-valued: ``3`` and ``3.0``, draft-06
    on) or ``DIGITS_INTEGER`` (no fraction or exponent part, draft-04); larger is stricter.
    """

    integer: int = ANY_NUMBER
    minimum: Number | None = None
    maximum: Number | None = None
    exclusive_minimum: Number | None = None
    exclusive_maximum: Number | None = None
    multiple_of: Number | None = None
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class Values:
    """A finite set of strings or of numbers (numbers compare by value: ``1 == 1.0``)."""

    values: frozenset


@dataclass(frozen=True)
class And:
    parts: tuple[Formula, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Formula, ...]


@dataclass(frozen=True)
class Not:
    part: Formula


Formula = StringAtom | NumberAtom | Values | And | Or | Not
TRUE: Formula = And(())
FALSE: Formula = Or(())


def conjoin(*formulas: Formula) -> Formula:
    """The conjunction, flattened, without duplicates, short-circuited on FALSE.

    Atoms of the same kind merge when one atom can say both (tighter bounds, one
    pattern), which saves automaton products later.
    """
    parts: list[Formula] = []
    for formula in formulas:
        for part in formula.parts if isinstance(formula, And) else (formula,):
            if part == FALSE:
                return FALSE
            for i, existing in enumerate(parts):
                merged = _merge_atoms(existing, part)
                if merged == Values(frozenset()):
                    return FALSE
                if merged is not None:
                    parts[i] = merged
                    break
            else:
                parts.append(part)
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _merge_atoms(a: Formula, b: Formula) -> Formula | None:
    if a == b:
        return a
    if isinstance(a, Values) and isinstance(b, Values):
        return Values(a.values & b.values)
    if isinstance(a, NumberAtom) and isinstance(b, NumberAtom):
        multiple = _same_or_one(a.multiple_of, b.multiple_of)
        if multiple is _CONFLICT:
            return None
        return NumberAtom(
            max(a.integer, b.integer),
            _tighter(a.minimum, b.minimum, max),
            _tighter(a.maximum, b.maximum, min),
            _tighter(a.exclusive_minimum, b.exclusive_minimum, max),
            _tighter(a.exclusive_maximum, b.exclusive_maximum, min),
            multiple,
            a.pointer or b.pointer,
        )
    if isinstance(a, StringAtom) and isinstance(b, StringAtom):
        pattern, format = _same_or_one(a.pattern, b.pattern), _same_or_one(a.format, b.format)
        if pattern is _CONFLICT or format is _CONFLICT:
            return None
        return StringAtom(
            max(a.min_length, b.min_length),
            _tighter(a.max_length, b.max_length, min),
            pattern,
            format,
            a.pointer or b.pointer,
        )
    return None


_CONFLICT = object()


def _same_or_one(a, b):
    if a is None or a == b:
        return b
    return a if b is None else _CONFLICT


def _tighter(a, b, pick):
    if a is None:
        return b
    return a if b is None else pick(a, b)


def disjoin(*formulas: Formula) -> Formula:
    """The disjunction, flattened, without duplicates, short-circuited on TRUE."""
    parts: list[Formula] = []
    for formula in formulas:
        for part in formula.parts if isinstance(formula, Or) else (formula,):
            if part == TRUE:
                return TRUE
            if part not in parts:
                parts.append(part)
    merged = _merge_values(parts)
    return merged[0] if len(merged) == 1 else Or(tuple(merged))


def _merge_values(parts: list[Formula]) -> list[Formula]:
    """One ``Values`` atom for all the finite sets of a disjunction (big enums stay one atom)."""
    sets = [p for p in parts if isinstance(p, Values)]
    if len(sets) < 2:
        return parts
    union = Values(frozenset().union(*(s.values for s in sets)))
    return [p for p in parts if not isinstance(p, Values)] + [union]


def negate(formula: Formula) -> Formula:
    if formula == TRUE:
        return FALSE
    if formula == FALSE:
        return TRUE
    if isinstance(formula, Not):
        return formula.part
    return Not(formula)


# -- structured shapes --------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A union over JSON types; see the module docstring. ``Node()`` is the empty schema."""

    null: bool = False
    booleans: frozenset[bool] = frozenset()
    number: Formula = FALSE
    string: Formula = FALSE
    arrays: tuple[ArrayShape, ...] = ()
    objects: tuple[ObjectShape, ...] = ()
    refs: tuple[Hashable, ...] = ()


ANY_KEY = "any"  # the built-in definition whose body is ANY
ANY_VALUE = Node(refs=(ANY_KEY,))  # "any JSON value", by reference so nesting stays finite
NOTHING = Node()


@dataclass(frozen=True)
class Contains:
    """Between ``minimum`` and ``maximum`` items (inclusive) are instances of ``node``."""

    node: Node
    minimum: int = 1
    maximum: int | None = None


@dataclass(frozen=True)
class ArrayShape:
    """Arrays: ``prefix[i]`` for item i, ``items`` for the rest, length and contains bounds."""

    prefix: tuple[Node, ...] = ()
    items: Node = ANY_VALUE
    min_items: int = 0
    max_items: int | None = None
    contains: tuple[Contains, ...] = ()
    unique: bool = False
    pointer: str = field(default="", compare=False)


@dataclass(frozen=True)
class KeyRule:
    """How one subschema constrains the keys its object shape does not declare.

    A key matching some of ``patterns`` must satisfy all their schemas; a key matching
    none must satisfy ``additional`` -- ``None`` when the subschema had no
    ``additionalProperties`` (any value, unless the caller closes objects by default).
    """

    patterns: tuple[tuple[str, Node], ...] = ()
    additional: Node | None = None


@dataclass(frozen=True)
class Witness:
    """ "Some member's key is not in ``excluded``, satisfies ``names``, and its value breaks
    ``rules``" (every value does when ``rules`` is None) -- how the negation of
    ``additionalProperties``/``patternProperties`` (rules over the keys a shape did not
    declare) and of ``propertyNames`` is said. The keys are stored, not the shape's own
    declarations, so the meaning survives merging with other shapes.
    """

    excluded: frozenset[str] = frozenset()
    names: Formula = TRUE
    rules: tuple[KeyRule, ...] | None = None


@dataclass(frozen=True)
class ObjectShape:
    """Objects: declared properties (in output order) with their value schemas, and the rest.

    Invariants: every required key is declared; a declared key's schema already includes
    every pattern and rule that applies to it, so ``key_rules`` govern undeclared keys
    only. A declared key whose schema is ``NOTHING`` may not appear. ``names`` is a
    string formula every key satisfies (``propertyNames``). ``implicit`` keys were
    declared only to be required or forbidden (not in ``properties``): when shapes merge
    they yield their place in the key order to keys some ``properties`` lists. Every
    one of ``witnesses`` must be met by some member.
    """

    properties: tuple[tuple[str, Node], ...] = ()
    required: frozenset[str] = frozenset()
    implicit: frozenset[str] = frozenset()
    key_rules: tuple[KeyRule, ...] = ()
    names: Formula = TRUE
    min_properties: int = 0
    max_properties: int | None = None
    witnesses: tuple[Witness, ...] = ()
    pointer: str = field(default="", compare=False)

    @property
    def declared_keys(self) -> frozenset[str]:
        return frozenset(k for k, _ in self.properties)

    def declared(self, key: str) -> Node | None:
        for name, node in self.properties:
            if name == key:
                return node
        return None


def key_shape(keys: dict[str, Node], *, required: bool, pointer: str, implicit: bool = True) -> ObjectShape:
    """Objects where these keys (all required, or none) have these schemas."""
    names = frozenset(keys)
    return ObjectShape(
        tuple(keys.items()),
        names if required else frozenset(),
        names if implicit else frozenset(),
        pointer=pointer,
    )


ANY = Node(
    null=True,
    booleans=frozenset({False, True}),
    number=TRUE,
    string=TRUE,
    arrays=(ArrayShape(),),
    objects=(ObjectShape(),),
)


def is_any(node: Node) -> bool:
    return node in (ANY, ANY_VALUE)


def only(
    *,
    null: bool = False,
    booleans: frozenset[bool] = frozenset(),
    number: Formula = FALSE,
    string: Formula = FALSE,
    arrays: tuple[ArrayShape, ...] = (),
    objects: tuple[ObjectShape, ...] = (),
) -> Node:
    """A node built by keyword, the types not named being excluded."""
    return Node(null, booleans, number, string, arrays, objects)


def any_but_objects(objects: tuple[ObjectShape, ...]) -> Node:
    """Every non-object value, and objects of the given shapes (object-only keywords)."""
    return Node(ANY.null, ANY.booleans, TRUE, TRUE, ANY.arrays, objects)
