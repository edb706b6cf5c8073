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

Item = tuple[int, int, int]  # (production, dot, origin state); where it lives is kept beside it


def start_spans_to_final(grammar: NormalGrammar, reach: Reach) -> bool:
    """Whether the grammar derives the bytes of some path from the initial to a final state.

    Items are stored per state, and an item waiting for a symbol is stored already advanced
    past it. Items that wait for the same symbol at the same state all move to the same
    states (the symbol's lexeme ends or spans), so they are collected and moved in batches,
    one set difference per target state: most moves are repeats (every ambiguity of where a
    lexeme or a run of ignored lexemes ends derives the same item again).
    """
    lhs_of = [lhs for lhs, _ in grammar.productions]
    rhs_of = [rhs for _, rhs in grammar.productions]
    productions_of: dict[int, list[int]] = {}
    for index, lhs in enumerate(lhs_of):
        productions_of.setdefault(lhs, []).append(index)
    n_terminals = grammar.n_terminals
    canvas, tick = reach.canvas, reach.deadline.tick
    start_symbol = lhs_of[0]
    origins = reach.gap(0)

    items_at: dict[int, set[Item]] = {}
    waiting: dict[tuple[int, int], set[Item]] = {}  # (state, nonterminal) -> items moved past it
    spans: dict[tuple[int, int], set[int]] = {}  # (origin, nonterminal) -> states it spans to
    pending: dict[tuple[int, int], set[Item]] = {}  # (state, symbol) -> advanced items not yet moved
    work: list[tuple[int, Item]] = []

    def add(state: int, new: set[Item]) -> None:
        present = items_at.setdefault(state, set())
        new = new - present
        if new:
            present |= new
            work.extend((state, item) for item in new)

    def flush(key: tuple[int, int]) -> None:
        state, symbol = key
        batch = pending.pop(key)
        targets = reach.step(symbol, state) if symbol < n_terminals else tuple(spans.get(key, ()))
        for target in targets:
            add(target, batch)

    for origin in origins:
        add(origin, {(production, 0, origin) for production in productions_of[start_symbol]})
    while work or pending:
        tick()
        if not work:
            flush(next(iter(pending)))
            continue
        state, (production, dot, origin) = work.pop()
        rhs = rhs_of[production]
        if dot == len(rhs):
            lhs = lhs_of[production]
            if lhs == start_symbol and origin in origins and canvas.is_final(state):
                return True
            ends = spans.setdefault((origin, lhs), set())
            if state not in ends:
                ends.add(state)
                if (origin, lhs) in waiting:
                    add(state, waiting[(origin, lhs)])
            continue
        symbol = rhs[dot]
        key = (state, symbol)
        advanced = (production, dot + 1, origin)
        if symbol >= n_terminals:
            if key not in waiting:
                waiting[key] = set()
                add(state, {(p2, 0, state) for p2 in productions_of[symbol]})
            waiting[key].add(advanced)
        pending.setdefault(key, set()).add(advanced)
    return False
