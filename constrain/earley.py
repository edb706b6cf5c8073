"""An incremental Earley parser over terminal ids whose states are interned.

A parser state is one Earley chart. Items refer to older charts through interned ids (see
below), so a chart's content determines its whole future; charts with equal content are the
same state. Interning makes ``scan(state, terminal)`` a pure function that can be cached, which
turns the parser into a lazily built automaton: repeated structure (the same nesting
in a JSON document, say) reuses states, transitions and, downstream, token masks.

Repetition rules should be left-recursive (Lark's expansion is), so that a list's
chart after a separator does not depend on how many elements came before.

Items do not name the chart where they started, only what completing them can do there:
a *continuation*, the interned set of that chart's items waiting for the item's left-hand
side (and, for those predicted there, recursively for theirs). A chart's future depends on
nothing else, so charts at different positions that differ only in where their items
started are one state: in a SMILES chain ``CCCC`` or a SQL name read byte by byte, the
chart after each atom would otherwise be new, since it names the chart before it.

Nullable nonterminals are handled as Aycock and Horspool do: predicting a nullable
symbol also advances over it, so completions never refer to the chart being built.
"""

from __future__ import annotations

from constrain.cfg import NormalGrammar

SELF = -1  # origin of items that started in the chart that holds them
DEAD = -1  # result of a scan that no item accepts

Item = tuple[int, int, int]  # (production, dot, continuation id of its origin, or SELF)
Waiting = dict[int, tuple[Item, ...]]  # next symbol -> the items before it


class EarleyParser:
    """Interned Earley charts with cached scans; state 0 is the initial chart.

    A chart is its *core* (the incomplete items scanned or completed into it, which refer to
    older charts' continuations) plus the predictions of the nonterminals after their dots,
    which depend on nothing else. So the core alone identifies a chart: interning looks the core up before
    building anything, and the predicted part of the items is built once per predicted set.
    """

    def __init__(self, grammar: NormalGrammar):
        self.grammar = grammar
        self._lhs = tuple(lhs for lhs, _ in grammar.productions)
        self._rhs = tuple(rhs for _, rhs in grammar.productions)
        self._next = tuple(
            tuple(None if grammar.is_terminal(s) else s for s in rhs) for rhs in self._rhs
        )  # the nonterminal after each dot, None before a terminal
        self._by_lhs: dict[int, list[int]] = {}
        for index, lhs in enumerate(self._lhs):
            self._by_lhs.setdefault(lhs, []).append(index)
        # Charts are many and long-lived, so they are kept in parallel lists rather than as
        # objects: per chart the garbage collector then tracks only its ``waiting`` dict.
        self._waiting: list[Waiting] = []
        self._expected: list[frozenset[int]] = []  # shared by charts expecting the same
        self._accepting: list[bool] = []
        self._core: list[tuple[Item, ...]] = []  # sorted non-predicted incomplete items
        self._predicted_here: list[frozenset[int]] = []  # shared like the expected sets
        self._ids: dict[tuple[tuple[Item, ...], bool], int] = {}
        self._shared_sets: dict[frozenset[int], frozenset[int]] = {}
        self._scans: dict[tuple[int, int], int] = {}
        self._merges: dict[tuple[int, ...], int] = {}
        self._predicted: dict[int, dict[Item, None]] = {}
        self._predicted_waiting: dict[frozenset[int], tuple[Waiting, frozenset[int]]] = {}
        self._continuations: list[Waiting] = []
        self._continuation_ids: dict[tuple[Item, ...], int] = {}
        self._chart_continuations: dict[tuple[int, int], int] = {}  # (chart, symbol) -> continuation
        self._completions: dict[tuple[int, int], tuple[Item, ...]] = {}  # (continuation, symbol) -> items
        self._close([(0, 0, SELF)])

    def expected_terminals(self, state: int) -> frozenset[int]:
        return self._expected[state]

    def is_accepting(self, state: int) -> bool:
        return self._accepting[state]

    def scan(self, state: int, terminal: int) -> int:
        """The chart after ``terminal`` follows ``state``, or DEAD."""
        key = (state, terminal)
        result = self._scans.get(key)
        if result is None:
            kernel = [
                (
                    prod,
                    dot + 1,
                    self._chart_continuation(state, self._lhs[prod]) if origin == SELF else origin,
                )
                for prod, dot, origin in self._waiting[state].get(terminal, ())
            ]
            result = self._close(kernel) if kernel else DEAD
            self._scans[key] = result
        return result

    def _chart_continuation(self, chart: int, symbol: int) -> int:
        """The continuation of items predicted in ``chart`` with left-hand side ``symbol``; cached."""
        key = (chart, symbol)
        found = self._chart_continuations.get(key)
        if found is None:
            found = self._chart_continuations[key] = self._continuation(self._waiting[chart], symbol)
        return found

    def _continuation(self, waiting: Waiting, symbol: int) -> int:
        """The interned continuation for completing ``symbol`` where ``waiting`` holds.

        It holds the items waiting for ``symbol`` and, since those predicted there (SELF)
        complete there too once advanced, the items waiting for their left-hand sides.
        Where the only one is ``symbol -> ... • symbol`` (right recursion: ``-`` ``-`` ``-`` x
        in SQL), completing ``symbol`` here just completes it again where that item started,
        so its continuation serves as well; nesting then adds no new states (as in Leo's
        optimisation).
        """
        symbols, items = [symbol], {}
        for current in symbols:
            for item in waiting.get(current, ()):
                items[item] = None
                if item[2] == SELF and self._lhs[item[0]] not in symbols:
                    symbols.append(self._lhs[item[0]])
        if len(items) == 1:
            prod, dot, origin = next(iter(items))
            if origin != SELF and self._lhs[prod] == symbol and dot + 1 == len(self._rhs[prod]):
                return origin
        key = tuple(sorted(items))
        found = self._continuation_ids.get(key)
        if found is None:
            found = self._continuation_ids[key] = len(self._continuations)
            self._continuations.append(
                {current: waiting[current] for current in symbols if current in waiting}
            )
        return found

    def _completed(self, continuation: int, symbol: int) -> tuple[Item, ...]:
        """The items that completing ``symbol`` with this continuation advances; cached."""
        key = (continuation, symbol)
        found = self._completions.get(key)
        if found is None:
            waiting = self._continuations[continuation]
            inner: dict[int, int] = {}  # left-hand side -> continuation of the items predicted there
            for prod, _, origin in waiting.get(symbol, ()):
                if origin == SELF and self._lhs[prod] not in inner:
                    inner[self._lhs[prod]] = self._continuation(waiting, self._lhs[prod])
            found = self._completions[key] = tuple(
                (prod, dot + 1, inner[self._lhs[prod]] if origin == SELF else origin)
                for prod, dot, origin in waiting.get(symbol, ())
            )
        return found

    def _close(self, kernel: list[Item]) -> int:
        """Complete from ``kernel`` (and note what to predict), then intern the chart.

        Only the initial chart holds a non-predicted item that starts in it, so completing
        an item that started here never happens after it: predictions need no processing.
        """
        core: dict[Item, None] = {}
        work = list(kernel)
        predicted: set[int] = set()
        accepting = False
        nullable = self.grammar.nullable
        while work:
            item = work.pop()
            if item in core:
                continue
            core[item] = None
            prod, dot, origin = item
            rhs = self._rhs[prod]
            if dot == len(rhs):
                accepting = accepting or prod == 0  # only the initial chart predicts <start>
                if origin != SELF:
                    work.extend(self._completed(origin, self._lhs[prod]))
                continue
            symbol = self._next[prod][dot]
            if symbol is not None:
                predicted.add(symbol)
                if symbol in nullable:
                    work.append((prod, dot + 1, origin))
        rhs = self._rhs
        incomplete = tuple(sorted(i for i in core if i[1] < len(rhs[i[0]])))
        return self._intern(incomplete, frozenset(predicted), accepting)

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
        key = tuple(sorted(states))  # tuples of ints, unlike frozensets, leave the collector's view
        merged = self._merges.get(key)
        if merged is None:
            merged = self._intern(
                tuple(sorted(frozenset().union(*(self._core[state] for state in key)))),
                frozenset().union(*(self._predicted_here[state] for state in key)),
                any(self._accepting[state] for state in key),
            )
            self._merges[key] = merged
        return merged

    def _intern(self, core: tuple[Item, ...], predicted: frozenset[int], accepting: bool) -> int:
        """The id of the chart with this (sorted) core, creating it if new."""
        key = (core, accepting)
        existing = self._ids.get(key)
        if existing is not None:
            return existing
        predicted = self._shared(predicted)
        predictions, predicted_terminals = self._waiting_of_predictions(predicted)
        waiting = dict(predictions)  # the predicted groups are shared tuples
        from_core: dict[int, list[Item]] = {}
        for item in core:
            from_core.setdefault(self._rhs[item[0]][item[1]], []).append(item)
        for symbol, items in from_core.items():
            waiting[symbol] = predictions.get(symbol, ()) + tuple(items)
        n_terminals = self.grammar.n_terminals
        core_terminals = [symbol for symbol in from_core if symbol < n_terminals]
        self._ids[key] = len(self._waiting)
        self._waiting.append(waiting)
        self._expected.append(
            self._shared(predicted_terminals.union(core_terminals)) if core_terminals else predicted_terminals
        )
        self._accepting.append(accepting)
        self._core.append(core)
        self._predicted_here.append(predicted)
        return len(self._waiting) - 1

    def _shared(self, symbols: frozenset[int]) -> frozenset[int]:
        return self._shared_sets.setdefault(symbols, symbols)

    def _waiting_of_predictions(
        self, predicted: frozenset[int]
    ) -> tuple[dict[int, tuple[Item, ...]], frozenset[int]]:
        """The incomplete predicted items of a chart by the symbol after their dot, and the
        terminals among those symbols; cached per predicted set."""
        found = self._predicted_waiting.get(predicted)
        if found is None:
            items: dict[Item, None] = {}
            for symbol in predicted:
                items.update(self._predictions(symbol))
            groups: dict[int, list[Item]] = {}
            for prod, dot, origin in items:
                if dot < len(self._rhs[prod]):
                    groups.setdefault(self._rhs[prod][dot], []).append((prod, dot, origin))
            terminals = self._shared(frozenset(s for s in groups if self.grammar.is_terminal(s)))
            found = ({symbol: tuple(group) for symbol, group in groups.items()}, terminals)
            self._predicted_waiting[predicted] = found
        return found
