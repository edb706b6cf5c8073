"""Rules for one array shape: prefix items, the repeated rest, and ``contains`` counts.

Without ``contains`` an array is a chain over the prefix positions followed by a
bounded repetition of the item (logarithmic in ``maxItems``, see ``repeat``). With it,
each item is split into the part matching each ``contains`` schema and the part not
matching it (which needs that schema's complement), and a small automaton counts
matches against ``minContains``/``maxContains``. ``uniqueItems`` is only accepted where
it is implied: at most one item, or item schemas that are pairwise disjoint.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING

from constrain.ir import NonTerminal
from constrain.json_schema.context import Inexpressible
from constrain.json_schema.grammar_unique import MAX_VALUES, Value, finite_values, unique_items
from constrain.json_schema.nodes import NOTHING, ArrayShape, Contains, Node

if TYPE_CHECKING:
    from constrain.json_schema.to_grammar import GrammarBuilder

# (which contains-clauses the item matches, the item's schema restricted accordingly)
ItemClass = tuple[tuple[bool, ...], Node]


def array_rules(builder: GrammarBuilder, shape: ArrayShape, depth: int) -> NonTerminal | None:
    """The nonterminal of ``shape``'s arrays at ``depth``; None when it has none."""
    high = shape.max_items
    if shape.items == NOTHING:
        high = len(shape.prefix) if high is None else min(high, len(shape.prefix))
    prefix = shape.prefix if high is None else shape.prefix[:high]
    low = shape.min_items
    if high is not None and low > high:
        return None
    unique = _distinct_values(builder, shape, prefix, high)
    classes = None if unique is not None else _contains_classes(builder, shape, prefix)
    contains = shape.contains if classes is not None else ()
    layout = builder.layout
    nt = NonTerminal(builder.fresh("array"))
    if low == 0 and all(c.minimum == 0 for c in contains):
        builder.rule(nt, layout.empty("[", depth))
    if high != 0:
        if unique is not None:
            body = unique_items(builder, *unique, low, high, depth)
        elif classes is None:
            body = _plain_items(builder, prefix, shape.items, low, high, depth)
        else:
            body = _counted_items(builder, shape, prefix, classes, low, high, depth)
        if body is not None:
            builder.rule(nt, layout.open("[", depth), body, layout.close("[", depth))
    return nt


def _distinct_values(
    builder: GrammarBuilder, shape: ArrayShape, prefix: tuple[Node, ...], high: int | None
) -> tuple[list[list[Value]], list[Value]] | None:
    """For ``uniqueItems`` over few scalar values: the values per position and for the rest.

    None when ``uniqueItems`` is absent or implied (at most one item, or pairwise
    disjoint item schemas); refuses it (lenient: drops it) when it cannot be enforced.
    """
    if not shape.unique or (high is not None and high <= 1):
        return None
    if (
        high is not None
        and high <= len(prefix)
        and all(builder.algebra.disjoint(a, b) for a, b in combinations(prefix[:high], 2))
    ):
        return None
    if not shape.contains:
        positions = [finite_values(builder, node) for node in prefix]
        items = finite_values(builder, shape.items)
        known = items is not None and all(p is not None for p in positions)
        if known and len({v for p in positions for v in p} | set(items)) <= MAX_VALUES:
            return positions, items
    builder.ctx.refuse(
        "uniqueItems",
        "a grammar cannot enforce distinct items (only where at most one item is allowed, "
        f"the item schemas are pairwise disjoint, or items are among {MAX_VALUES} scalar values)",
        shape.pointer,
    )
    return None


def _plain_items(
    builder: GrammarBuilder, prefix: tuple[Node, ...], items: Node, low: int, high: int | None, depth: int
) -> NonTerminal | None:
    """Non-empty item lists: prefix positions in a chain, then ``items`` repeated."""
    comma = builder.layout.comma(depth)
    repeat = builder.repeater.repeat
    item = None if items == NOTHING else builder.value(items, depth + 1)
    after_prefix = len(prefix)
    body = NonTerminal(builder.fresh("items"))
    if not prefix:
        if item is None:
            return None
        builder.rule(body, item, *repeat((comma, item), max(low - 1, 0), None if high is None else high - 1))
        return body
    tail = NonTerminal(builder.fresh("items"))
    if item is not None:
        builder.rule(
            tail,
            *repeat((comma, item), max(low - after_prefix, 0), None if high is None else high - after_prefix),
        )
    elif after_prefix >= low:
        builder.rule(tail)
    following = tail
    for i in range(after_prefix - 1, 0, -1):
        chain = NonTerminal(builder.fresh("items"))
        if i >= low:
            builder.rule(chain)
        builder.rule(chain, comma, builder.value(prefix[i], depth + 1), following)
        following = chain
    builder.rule(body, builder.value(prefix[0], depth + 1), following)
    return body


def _contains_classes(
    builder: GrammarBuilder, shape: ArrayShape, prefix: tuple[Node, ...]
) -> dict[Node, list[ItemClass]] | None:
    """Per distinct position schema, its split by the contains clauses; None without any.

    Refuses ``contains`` (or, lenient, drops it) when a clause's complement is needed
    and cannot be expressed.
    """
    if not shape.contains:
        return None
    schemas = list(dict.fromkeys([*prefix, shape.items]))
    split: dict[Node, list[ItemClass]] = {}
    try:
        for schema in schemas:
            parts: list[ItemClass] = [((), schema)]
            for clause in shape.contains:
                parts = [
                    ((*flags, matches), node)
                    for flags, base in parts
                    for matches, node in _split(builder, base, clause, shape.pointer)
                ]
            split[schema] = parts
    except Inexpressible as error:
        builder.ctx.refuse("contains", str(error), shape.pointer)
        return None
    return split


def _split(builder: GrammarBuilder, base: Node, clause: Contains, pointer: str) -> list[tuple[bool, Node]]:
    algebra = builder.algebra
    if base == NOTHING:
        return []
    if algebra.disjoint(base, clause.node):
        return [(False, base)]
    inside = algebra.intersect_nested(base, clause.node, pointer)
    outside = algebra.intersect_nested(
        base, algebra.complement_nested(clause.node, "contains", pointer), pointer
    )
    return [(flag, node) for flag, node in ((True, inside), (False, outside)) if node != NOTHING]


def _counted_items(
    builder: GrammarBuilder,
    shape: ArrayShape,
    prefix: tuple[Node, ...],
    classes: dict[Node, list[ItemClass]],
    low: int,
    high: int | None,
    depth: int,
) -> NonTerminal:
    """Non-empty item lists as an automaton over (items so far, matches per clause)."""
    comma = builder.layout.comma(depth)
    index_cap = high if high is not None else max(len(prefix), low, 1)
    count_caps = [c.maximum + 1 if c.maximum is not None else c.minimum for c in shape.contains]
    states: dict[tuple[int, tuple[int, ...]], NonTerminal] = {}
    todo: list[tuple[int, tuple[int, ...]]] = []

    def state(i: int, counts: tuple[int, ...]) -> NonTerminal:
        if (i, counts) not in states:
            states[(i, counts)] = NonTerminal(builder.fresh("items"))
            todo.append((i, counts))
        return states[(i, counts)]

    start = state(0, (0,) * len(shape.contains))
    while todo:
        i, counts = todo.pop()
        nt = states[(i, counts)]
        if i >= max(low, 1) and all(n >= c.minimum for n, c in zip(counts, shape.contains, strict=True)):
            builder.rule(nt)
        if high is not None and i >= high:
            continue
        schema = prefix[i] if i < len(prefix) else shape.items
        separator = (comma,) if i > 0 else ()
        for flags, node in classes[schema]:
            after = tuple(min(n + f, cap) for n, f, cap in zip(counts, flags, count_caps, strict=True))
            if any(
                c.maximum is not None and n > c.maximum for n, c in zip(after, shape.contains, strict=True)
            ):
                continue
            following = state(min(i + 1, index_cap), after)
            builder.rule(nt, *separator, builder.value(node, depth + 1), following)
    return start
