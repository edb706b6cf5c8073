"""An incremental Earley parser over terminal ids whose states are interned.

A parser state is one Earley chart. Items refer to older charts by id, so a chart's
content determines its whole future; charts with equal content are the same state.
Interning makes ``scan(state, terminal)`` a pure function that can be cached, which
turns the parser into a lazily built automaton: repeated structure (the same nesting
in a JSON document, say) reuses states, transitions and, downstream, token masks.

Repetition rules should be left-recursive (Lark's expansion is), so that a list's
chart after a separator does not depend on how many elements came before.

Nullable nonterminals are handled as Aycock and Horspool do: predicting a nullable
symbol also advances over it, so completions never refer to the chart being built.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from constrain.cfg import NormalGrammar

SELF = -1  # origin of items that started in the chart that holds them
DEAD = -1  # result of a scan that no item accepts

Item = tuple[int, int, int]  # (production, dot, origin chart id or SELF)


@dataclass(frozen=True, eq=False)
class Chart:
    waiting: dict[int, tuple[Item, ...]]  # next symbol -> items whose dot is before it
    expected_terminals: frozenset[int]
    accepting: bool


class EarleyParser:
    """Interned Earley charts with cached scans; state 0 is the initial chart."""

    def __init__(self, grammar: NormalGrammar):
        self.grammar = grammar
        self._lhs = tuple(lhs for lhs, _ in grammar.productions)
        self._rhs = tuple(rhs for _, rhs in grammar.productions)
        self._by_lhs: dict[int, list[int]] = {}
        for index, lhs in enumerate(self._lhs):
            self._by_lhs.setdefault(lhs, []).append(index)
        self.charts: list[Chart] = []
        self._ids: dict[tuple[frozenset[Item], bool], int] = {}
        self._scans: dict[tuple[int, int], int] = {}
        self._merges: dict[frozenset[int], int] = {}
        self._predicted: dict[int, dict[Item, None]] = {}
        self._close([(0, 0, SELF)])

    def expected_terminals(self, state: int) -> frozenset[int]:
        return self.charts[state].expected_terminals

    def is_accepting(self, state: int) -> bool:
        return self.charts[state].accepting

    def scan(self, state: int, terminal: int) -> int:
        """The chart after ``terminal`` follows ``state``, or DEAD."""
        key = (state, terminal)
        result = self._scans.get(key)
        if result is None:
            kernel = [
                (prod, dot + 1, state if origin == SELF else origin)
                for prod, dot, origin in self.charts[state].waiting.get(terminal, ())
            ]
            result = self._close(kernel) if kernel else DEAD
            self._scans[key] = result
        return result

    def _close(self, kernel: list[Item]) -> int:
        """Complete and predict from ``kernel``, then intern the resulting chart."""
        items: dict[Item, None] = {}
        work = list(kernel)
        predicted: set[int] = set()
        accepting = False
        while work:
            item = work.pop()
            if item in items:
                continue
            items[item] = None
            prod, dot, origin = item
            rhs = self._rhs[prod]
            if dot == len(rhs):
                accepting = accepting or prod == 0  # only the initial chart predicts <start>
                if origin != SELF:
                    for p2, d2, o2 in self.charts[origin].waiting.get(self._lhs[prod], ()):
                        work.append((p2, d2 + 1, origin if o2 == SELF else o2))
                continue
            symbol = rhs[dot]
            if self.grammar.is_terminal(symbol):
                continue
            if symbol not in predicted:
                predicted.add(symbol)
                items.update(self._predictions(symbol))
            if symbol in self.grammar.nullable:
                work.append((prod, dot + 1, origin))
        return self._intern((i for i in items if i[1] < len(self._rhs[i[0]])), accepting)

    def _predictions(self, symbol: int) -> dict[Item, None]:
        """Every item predicting ``symbol`` adds, transitively, computed once per symbol.

        They all start in the chart being built (origin SELF), so they depend on nothing
        else; a complete one derives the empty string, which Aycock-Horspool advancing
        has already accounted for, so none of them needs further processing.
        """
        found = self._predicted.get(symbol)
        if found is None:
            found = {}
            work = [(prod, 0, SELF) for prod in self._by_lhs.get(symbol, ())]
            seen_symbols = {symbol}
            while work:
                item = work.pop()
                if item in found:
                    continue
                found[item] = None
                prod, dot, _ = item
                rhs = self._rhs[prod]
                if dot == len(rhs) or self.grammar.is_terminal(rhs[dot]):
                    continue
                if rhs[dot] not in seen_symbols:
                    seen_symbols.add(rhs[dot])
                    work.extend((p, 0, SELF) for p in self._by_lhs.get(rhs[dot], ()))
                if rhs[dot] in self.grammar.nullable:
                    work.append((prod, dot + 1, SELF))
            self._predicted[symbol] = found
        return found

    def merge(self, states: frozenset[int]) -> int:
        """One chart holding the items of several charts of the same text position.

        Different splits of a text into lexemes reach the same position with different
        charts; like a textbook Earley parser, keep one chart per position (the union,
        which is closed because closure distributes over union). Without merging, an
        ambiguous grammar would fork a thread per split: exponentially many for a token
        such as sixteen dashes in C, where every run of ``-`` and ``--`` parses.
        """
        if len(states) == 1:
            return next(iter(states))
        merged = self._merges.get(states)
        if merged is None:
            charts = [self.charts[state] for state in states]
            items = [item for chart in charts for group in chart.waiting.values() for item in group]
            merged = self._intern(items, any(chart.accepting for chart in charts))
            self._merges[states] = merged
        return merged

    def _intern(self, incomplete_items: Iterable[Item], accepting: bool) -> int:
        """The id of the chart with these (incomplete) items, creating it if new."""
        waiting: dict[int, dict[Item, None]] = {}
        for item in incomplete_items:
            waiting.setdefault(self._rhs[item[0]][item[1]], {})[item] = None
        key = (frozenset(i for group in waiting.values() for i in group), accepting)
        existing = self._ids.get(key)
        if existing is not None:
            return existing
        chart = Chart(
            waiting={symbol: tuple(group) for symbol, group in waiting.items()},
            expected_terminals=frozenset(s for s in waiting if self.grammar.is_terminal(s)),
            accepting=accepting,
        )
        self._ids[key] = len(self.charts)
        self.charts.append(chart)
        return len(self.charts) - 1
