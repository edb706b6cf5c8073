"""Earley's algorithm over the canvas automaton instead of over a string.

Items ``(production, dot, origin)`` live at canvas states; the part before the dot
derives the bytes of some path from ``origin`` to the item's state. Scanning a terminal
moves an item along every lexeme that terminal can read from there (:class:`Reach`).
Holes make the automaton cyclic, so instead of going left to right the items are closed
under the three Earley rules by a worklist, to a fixpoint; spans ``A: p -> q`` of
completed nonterminals are remembered, so an item that starts waiting for ``A`` at ``p``
after ``A`` completed there still advances (this also covers nullable symbols, whose
spans ``p -> p`` are found like any other). The state space is finite, so this ends.

The canvas language meets the grammar's iff ``<start>`` spans from a state where the text
may begin (after leading ignored lexemes) to a final state.
"""

from __future__ import annotations

from constrain.cfg import NormalGrammar
from constrain.infill.reach import Reach

Item = tuple[int, int, int, int]  # (production, dot, origin state, state)


def start_spans_to_final(grammar: NormalGrammar, reach: Reach) -> bool:
    """Whether the grammar derives the bytes of some path from the initial to a final state."""
    lhs_of = [lhs for lhs, _ in grammar.productions]
    rhs_of = [rhs for _, rhs in grammar.productions]
    productions_of: dict[int, list[int]] = {}
    for index, lhs in enumerate(lhs_of):
        productions_of.setdefault(lhs, []).append(index)
    n_terminals = grammar.n_terminals
    canvas, tick = reach.canvas, reach.deadline.tick
    start_symbol = lhs_of[0]
    origins = reach.gap(0)

    seen: set[Item] = set()
    waiting: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    spans: dict[tuple[int, int], set[int]] = {}
    predicted: set[tuple[int, int]] = set()
    work: list[Item] = []

    def push(item: Item) -> None:
        if item not in seen:
            seen.add(item)
            work.append(item)

    for origin in origins:
        predicted.add((origin, start_symbol))
        for production in productions_of[start_symbol]:
            push((production, 0, origin, origin))
    while work:
        tick()
        production, dot, origin, state = work.pop()
        rhs = rhs_of[production]
        if dot == len(rhs):
            lhs = lhs_of[production]
            if lhs == start_symbol and origin in origins and canvas.is_final(state):
                return True
            ends = spans.setdefault((origin, lhs), set())
            if state not in ends:
                ends.add(state)
                for p2, d2, o2 in waiting.get((origin, lhs), ()):
                    push((p2, d2 + 1, o2, state))
            continue
        symbol = rhs[dot]
        waiting.setdefault((state, symbol), []).append((production, dot, origin))
        if symbol < n_terminals:
            for target in reach.step(symbol, state):
                push((production, dot + 1, origin, target))
            continue
        if (state, symbol) not in predicted:
            predicted.add((state, symbol))
            for p2 in productions_of[symbol]:
                push((p2, 0, state, state))
        for end in tuple(spans.get((state, symbol), ())):
            push((production, dot + 1, origin, end))
    return False
