"""Bounded repetition ``unit{lo,hi}`` in O(log hi) rules instead of O(hi).

``maxItems: 100000`` must not become 100,000 rules. Exactly ``k`` copies use doubling
(``E(2k) = E(k) E(k)``); "at most ``m``" uses ``X{0,2j+1} = X? (XX){0,j}`` and
``X{0,2j} = ε | X X{0,2j-1}``, so the unit doubles every two steps. Both derivations are
unambiguous, which keeps parsing cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from constrain.ir import NonTerminal, Rule, Symbol

Unit = tuple[Symbol, ...]
_SMALL = 4  # below this, plain chains are smaller than the doubling scheme


class Repeater:
    """Makes repetition nonterminals, emitting their rules through ``emit``."""

    def __init__(self, emit: Callable[[Rule], None], fresh: Callable[[str], str]):
        self._emit = emit
        self._fresh = fresh
        self._memo: dict[tuple, NonTerminal] = {}

    def repeat(self, unit: Unit, low: int, high: int | None) -> Unit:
        """Symbols deriving ``low`` to ``high`` (None: any number of) copies of ``unit``."""
        rest = self.star(unit) if high is None else self.at_most(unit, high - low)
        return self.exactly(unit, low) + rest

    def exactly(self, unit: Unit, count: int) -> Unit:
        if count < _SMALL:
            return unit * count
        half = self.exactly(unit, count // 2)
        return (self._define(("exactly", unit, count), lambda nt: [half * 2 + unit * (count % 2)]),)

    def star(self, unit: Unit) -> Unit:
        return (self._define(("star", unit), lambda nt: [(), (*unit, nt)]),)

    def at_most(self, unit: Unit, count: int) -> Unit:
        if count == 0:
            return ()

        def alternatives(nt: NonTerminal) -> list[Unit]:
            if count < _SMALL or count % 2 == 0:
                return [(), unit + self.at_most(unit, count - 1)]
            return [self.at_most(unit, 1) + self.at_most(self._pair(unit), count // 2)]

        return (self._define(("at_most", unit, count), alternatives),)

    def _pair(self, unit: Unit) -> Unit:
        return (self._define(("pair", unit), lambda nt: [unit * 2]),)

    def _define(self, key: tuple, alternatives: Callable[[NonTerminal], list[Unit]]) -> NonTerminal:
        if key not in self._memo:
            nt = NonTerminal(self._fresh(key[0]))
            self._memo[key] = nt
            for rhs in alternatives(nt):
                self._emit(Rule(nt.name, rhs))
        return self._memo[key]
