"""Where a lexeme can take the canvas: the product of one terminal DFA with the canvas NFA.

``lexeme_ends(T, p)`` is the set of canvas states ``q`` with a path ``p -w-> q`` for some
``w`` in L(T), found by a breadth-first search over (terminal state, canvas state) pairs.
Ignored terminals may stand between any two lexemes, so a parser step over terminal ``T``
goes to the ignore closure of those ends (:meth:`Reach.step`). Everything is memoized per
check: the Earley search asks for the same (terminal, state) pairs many times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from constrain.byte_dfa import ByteDFA
from constrain.infill.canvas import NO_BYTE, Canvas
from constrain.infill.deadline import Deadline


@dataclass(frozen=True, eq=False)
class TerminalTable:
    """A terminal DFA for the product search: a per-byte table and per-state byte masks by target."""

    transitions: list[list[int]]
    grouped: list[tuple[tuple[int, int], ...]]  # state -> ((mask, target), ...)
    accepting: list[bool]


def terminal_table(dfa: ByteDFA) -> TerminalTable:
    rows = dfa.transitions
    grouped = []
    for row in rows:
        masks: dict[int, int] = {}
        for byte in np.flatnonzero(row >= 0).tolist():
            target = int(row[byte])
            masks[target] = masks.get(target, 0) | (1 << byte)
        grouped.append(tuple((mask, target) for target, mask in masks.items()))
    return TerminalTable(rows.tolist(), grouped, dfa.accepting.tolist())


class Reach:
    """Memoized lexeme reachability over one canvas."""

    def __init__(
        self, canvas: Canvas, tables: tuple[TerminalTable, ...], ignore: frozenset[int], deadline: Deadline
    ):
        self.canvas = canvas
        self._tables = tables
        self._ignore = tuple(sorted(ignore))
        self.deadline = deadline
        self._ends: dict[tuple[int, int], frozenset[int]] = {}
        self._gaps: dict[int, frozenset[int]] = {}
        self._steps: dict[tuple[int, int], frozenset[int]] = {}

    def step(self, terminal: int, state: int) -> frozenset[int]:
        """States after one lexeme of ``terminal`` from ``state`` and any ignored lexemes after it."""
        key = (terminal, state)
        found = self._steps.get(key)
        if found is None:
            found = frozenset().union(*(self.gap(end) for end in self.lexeme_ends(terminal, state)))
            self._steps[key] = found
        return found

    def gap(self, state: int) -> frozenset[int]:
        """States reachable from ``state`` by zero or more ignored lexemes."""
        found = self._gaps.get(state)
        if found is None:
            seen = {state}
            frontier = [state]
            while frontier:
                current = frontier.pop()
                for terminal in self._ignore:
                    for end in self.lexeme_ends(terminal, current):
                        if end not in seen:
                            seen.add(end)
                            frontier.append(end)
            found = self._gaps[state] = frozenset(seen)
        return found

    def lexeme_ends(self, terminal: int, state: int) -> frozenset[int]:
        key = (terminal, state)
        found = self._ends.get(key)
        if found is None:
            found = self._ends[key] = self._search(self._tables[terminal], state)
        return found

    def _search(self, table: TerminalTable, start: int) -> frozenset[int]:
        canvas, tick = self.canvas, self.deadline.tick
        transitions, grouped, accepting = table.transitions, table.grouped, table.accepting
        seen = {(0, start)}
        frontier = [(0, start)]
        ends = set()
        while frontier:
            tick()
            term_state, canvas_state = frontier.pop()
            for edge in canvas.edges(canvas_state):
                if edge.byte != NO_BYTE:
                    target = transitions[term_state][edge.byte]
                    successors = ((target, edge.target),) if target >= 0 else ()
                else:
                    successors = tuple(
                        (t, edge.target) for mask, t in grouped[term_state] if mask & edge.mask
                    )
                for pair in successors:
                    if pair not in seen:
                        seen.add(pair)
                        frontier.append(pair)
                        if accepting[pair[0]]:
                            ends.add(pair[1])
        return frozenset(ends)
