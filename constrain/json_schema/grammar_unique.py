"""``uniqueItems`` over a small finite set of scalar values, as a subset automaton.

A grammar cannot compare items in general, but when every item is one of a few
scalar values (an enum, booleans, null), an array of distinct items is a path that
never reuses a value: states are (items so far, values used), at most
``(n + 1) * 2**n`` of them for ``n`` values, so ``n`` is capped at ``MAX_VALUES``.
Values compare as JSON Schema does (``1`` equals ``1.0``: one ``Values`` entry; each
value's terminal takes all its spellings).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from constrain.ir import NonTerminal, Terminal
from constrain.json_schema.nodes import FALSE, And, Formula, Node, Values

if TYPE_CHECKING:
    from constrain.json_schema.to_grammar import GrammarBuilder

MAX_VALUES = 8
Value = tuple[str, object]  # (kind, value): ("null", None), ("boolean", True), ("number", 2), ...


def finite_values(builder: GrammarBuilder, node: Node) -> list[Value] | None:
    """The values of ``node`` when it is a finite set of scalars, else None."""
    node = builder.algebra.expand(node)
    if node.arrays or node.objects:
        return None
    values: list[Value] = [("null", None)] if node.null else []
    values += [("boolean", flag) for flag in sorted(node.booleans)]
    for kind, formula, dfa in (
        ("number", node.number, builder.scalars.number_dfa),
        ("string", node.string, builder.scalars.string_dfa),
    ):
        candidates = _candidates(formula)
        if candidates is None:
            return None
        language = dfa(formula) if candidates else None
        values += [
            (kind, v)
            for v in sorted(candidates)
            if language.matches(json.dumps(v, ensure_ascii=False).encode())
        ]
    return values


def _candidates(formula: Formula) -> frozenset | None:
    """A finite superset of the formula's values, if it names one."""
    if formula == FALSE:
        return frozenset()
    if isinstance(formula, Values):
        return formula.values
    if isinstance(formula, And):
        for part in formula.parts:
            if isinstance(part, Values):
                return part.values
    return None


def unique_items(
    builder: GrammarBuilder,
    positions: list[list[Value]],
    items: list[Value],
    low: int,
    high: int | None,
    depth: int,
) -> NonTerminal | None:
    """Non-empty arrays of distinct values: position i draws from ``positions[i]`` (then ``items``)."""
    distinct = list(dict.fromkeys([v for allowed in positions for v in allowed] + items))
    if len(distinct) > MAX_VALUES:
        return None
    index = {value: i for i, value in enumerate(distinct)}
    limit = len(distinct) if high is None else min(high, len(distinct))
    comma = builder.layout.comma(depth)
    states: dict[tuple[int, int], NonTerminal] = {}
    todo: list[tuple[int, int]] = []

    def state(count: int, used: int) -> NonTerminal:
        if (count, used) not in states:
            states[(count, used)] = NonTerminal(builder.fresh("unique"))
            todo.append((count, used))
        return states[(count, used)]

    start = state(0, 0)
    while todo:
        count, used = todo.pop()
        nt = states[(count, used)]
        if count >= max(low, 1):
            builder.rule(nt)
        if count >= limit:
            continue
        allowed = positions[count] if count < len(positions) else items
        for value in allowed:
            bit = 1 << index[value]
            if not used & bit:
                separator = (comma,) if count else ()
                builder.rule(nt, *separator, _terminal(builder, value), state(count + 1, used | bit))
    return start


def _terminal(builder: GrammarBuilder, value: Value) -> Terminal:
    kind, data = value
    if kind in ("null", "boolean"):
        return builder.literal(json.dumps(data))
    dfa = builder.scalars.number_dfa if kind == "number" else builder.scalars.string_dfa
    terminal = builder.terminal(
        (kind, Values(frozenset({data}))), kind.upper(), lambda: dfa(Values(frozenset({data})))
    )
    assert terminal is not None
    return terminal
