"""Earley's algorithm column by column over an acyclic canvas, resumable from an earlier check.

On an acyclic canvas (every hole bounded) the items at a state depend only on the paths that
reach it, so the states can be closed one at a time in topological order (ascending ids of
:class:`ChainCanvas`), like the columns of Earley's algorithm over a string. A column's
*kernel* is the items that arrive by scanning a lexeme into it; its closure adds predictions
and completions (a completion with an earlier origin reads that origin's finished column; one
with the same origin is a nullable span, remembered so that items predicted later still move).
Lexemes are read byte by byte as *actives* travelling with the columns: ``(origin, slot)`` with
the terminal-DFA states alive at this state, delivering the items waiting at ``origin`` for that
slot wherever the DFA accepts. A slot is a grammar terminal, or ``n_terminals + I`` for an
ignored terminal ``I`` that carries the origin's kernel unchanged over an ignored lexeme. The
start items sit at state 0 and ride over leading ignored lexemes the same way, so a word is
found when some final column completes ``<start>`` from origin 0.

Why columns: everything the search knows when it reaches a cut chain state ``c`` (the finished
columns before ``c``, the kernel and actives arriving at ``c``) depends only on the canvas before
``c``. A :class:`Trace` keeps that *snapshot* at every cut, and a later check whose canvas shares
the first ``c`` chain positions starts at ``c`` instead of at 0 (and answers at once when the
earlier search had died out before ``c``). Diffusion decoding checks canvas after canvas that
differ at one position, so most of the work of each check is reused.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field

from constrain.cfg import NormalGrammar
from constrain.infill.canvas import NO_BYTE
from constrain.infill.chain import ChainCanvas, common_prefix
from constrain.infill.deadline import Deadline
from constrain.infill.reach import TerminalTable

Item = tuple[int, int, int]  # (production, dot, origin state)
Actives = dict[tuple[int, int], set[int]]  # (origin, slot) -> terminal-DFA states alive here


@dataclass(frozen=True)
class Column:
    """A closed state: who waits for which nonterminal, who waits for which lexeme slot."""

    waiting: dict[int, set[Item]]
    pending: dict[int, set[Item]]


@dataclass(frozen=True)
class Snapshot:
    """What arrives at a cut chain state; never mutated once taken."""

    kernel: frozenset[Item]
    actives: Actives


@dataclass
class Trace:
    """One search over one canvas: its finished columns per chain state and its snapshots."""

    canvas: ChainCanvas
    columns: list[dict[int, Column]] = field(default_factory=list)  # chain -> state -> column
    snapshot_at: list[int] = field(default_factory=list)  # ascending chain states
    snapshots: list[Snapshot] = field(default_factory=list)
    died_at: int | None = None  # chain state from which no state received anything


class TooCostly(Exception):
    """Internal: the search closed more items than its budget (at the chain state given); the
    checker falls back to the graph search."""

    def __init__(self, chain: int):
        super().__init__(chain)
        self.chain = chain


class ColumnSearch:
    """The grammar's side of the column search: productions, terminal tables, transition memo."""

    def __init__(self, grammar: NormalGrammar, tables: tuple[TerminalTable, ...], ignore: frozenset[int]):
        self.lhs_of = [lhs for lhs, _ in grammar.productions]
        self.rhs_of = [rhs for _, rhs in grammar.productions]
        self.productions_of: dict[int, list[int]] = {}
        for index, lhs in enumerate(self.lhs_of):
            self.productions_of.setdefault(lhs, []).append(index)
        self.n_terminals = grammar.n_terminals
        self.start_symbol = self.lhs_of[0]
        self.ignore_slots = tuple(self.n_terminals + t for t in sorted(ignore))
        self.tables = tables
        self._moves: dict[tuple[int, int, int], tuple[tuple[int, bool], ...]] = {}

    def initial(self) -> frozenset[Item]:
        return frozenset((p, 0, 0) for p in self.productions_of[self.start_symbol])

    def moves(self, slot: int, dfa_state: int, mask: int, byte: int) -> tuple[tuple[int, bool], ...]:
        """The terminal-DFA states (and whether they accept) after one byte of ``mask``."""
        key = (slot, dfa_state, mask)
        found = self._moves.get(key)
        if found is None:
            table = self.tables[slot % self.n_terminals if slot >= self.n_terminals else slot]
            if byte != NO_BYTE:
                target = table.transitions[dfa_state][byte]
                targets = (target,) if target >= 0 else ()
            else:
                targets = tuple(t for m, t in table.grouped[dfa_state] if m & mask)
            found = self._moves[key] = tuple((t, table.accepting[t]) for t in targets)
        return found


def resume_point(traces: list[Trace], canvas: ChainCanvas) -> tuple[Trace | None, int, bool]:
    """``(trace, index, dead)``: the stored snapshot reaching furthest into ``canvas``, or that
    some earlier search died out on a beginning the canvas shares (then it is not completable)."""
    best: tuple[Trace | None, int, int] = (None, -1, -1)
    for trace in traces:
        shared = common_prefix(trace.canvas, canvas)
        died_before = trace.died_at is not None and trace.died_at <= shared
        if died_before and any(canvas.is_cut(c) for c in (trace.died_at, shared)):
            return trace, -1, True
        index = _last_at_most(trace.snapshot_at, shared)
        if index >= 0 and trace.snapshot_at[index] > best[2]:
            best = (trace, index, trace.snapshot_at[index])
    return best[0], best[1], False


def search(
    rules: ColumnSearch, canvas: ChainCanvas, deadline: Deadline, base: Trace | None, index: int, budget: int
) -> tuple[bool, Trace]:
    """Whether the canvas is completable, and the trace of this search (resumed from
    ``base``'s snapshot ``index`` when given, else from state 0). Raises :class:`TooCostly`
    once the closures have taken more than ``budget`` items."""
    trace = Trace(canvas)
    width = canvas.width
    kernels: dict[int, set[Item] | frozenset[Item]] = {}
    actives_in: dict[int, Actives] = {}
    if base is None:
        kernels[0] = rules.initial()
        actives_in[0] = {}
        heap = [0]
    else:
        chain = base.snapshot_at[index]
        trace.columns = base.columns[:chain]
        trace.snapshot_at = base.snapshot_at[:index]
        trace.snapshots = base.snapshots[:index]
        snapshot = base.snapshots[index]
        kernels[chain * width] = snapshot.kernel
        actives_in[chain * width] = dict(snapshot.actives)
        heap = [chain * width]
    columns = trace.columns
    tick = deadline.tick
    last_chain = -1
    while heap:
        tick()
        state = heapq.heappop(heap)
        chain, sub = divmod(state, width)
        kernel = kernels.pop(state, frozenset())
        actives = actives_in.pop(state, {})
        if not sub:
            while len(columns) <= chain:
                columns.append({})
            if canvas.is_cut(chain):
                trace.snapshot_at.append(chain)
                trace.snapshots.append(Snapshot(frozenset(kernel), dict(actives)))
        last_chain = chain
        column, accepted, closed = _close(rules, state, kernel, columns, width)
        budget -= closed
        if budget < 0:
            raise TooCostly(chain)
        columns[chain][state] = column
        if accepted and canvas.is_final(state):
            return True, trace
        _launch(rules, state, kernel, column, actives)
        _advance(rules, canvas, state, actives, columns, column, kernels, actives_in, heap)
    trace.died_at = last_chain + 1
    return False, trace


def _close(
    rules: ColumnSearch, state: int, kernel: frozenset[Item], columns: list[dict[int, Column]], width: int
) -> tuple[Column, bool, int]:
    """The closure of ``kernel`` at ``state`` under prediction and completion, and its size."""
    rhs_of, lhs_of, productions_of = rules.rhs_of, rules.lhs_of, rules.productions_of
    n_terminals, start_symbol = rules.n_terminals, rules.start_symbol
    items = set(kernel)
    work = list(kernel)
    waiting: dict[int, set[Item]] = {}
    pending: dict[int, set[Item]] = {}
    nullable_here: set[int] = set()
    completed: set[tuple[int, int]] = set()
    accepted = False
    while work:
        production, dot, origin = work.pop()
        rhs = rhs_of[production]
        if dot == len(rhs):
            lhs = lhs_of[production]
            if lhs == start_symbol and origin == 0:
                accepted = True
            if (lhs, origin) in completed:
                continue
            completed.add((lhs, origin))
            if origin == state:
                nullable_here.add(lhs)
                moved = waiting.get(lhs, ())
            else:
                moved = columns[origin // width][origin].waiting.get(lhs, ())
            for item in moved:
                if item not in items:
                    items.add(item)
                    work.append(item)
            continue
        symbol = rhs[dot]
        advanced = (production, dot + 1, origin)
        if symbol < n_terminals:
            pending.setdefault(symbol, set()).add(advanced)
            continue
        waiters = waiting.get(symbol)
        if waiters is None:
            waiters = waiting[symbol] = set()
            for predicted in productions_of[symbol]:
                item = (predicted, 0, state)
                if item not in items:
                    items.add(item)
                    work.append(item)
        waiters.add(advanced)
        if symbol in nullable_here and advanced not in items:
            items.add(advanced)
            work.append(advanced)
    return Column(waiting, pending), accepted, len(items)


def _launch(
    rules: ColumnSearch, state: int, kernel: frozenset[Item], column: Column, actives: Actives
) -> None:
    """Start a lexeme here for every terminal some item waits for, and ignored lexemes for the kernel."""
    for slot in column.pending:
        actives[(state, slot)] = {0}
    if kernel:
        for slot in rules.ignore_slots:
            column.pending[slot] = kernel  # type: ignore[assignment]
            actives[(state, slot)] = {0}


def _advance(
    rules: ColumnSearch,
    canvas: ChainCanvas,
    state: int,
    actives: Actives,
    columns: list[dict[int, Column]],
    column: Column,
    kernels: dict[int, set[Item] | frozenset[Item]],
    actives_in: dict[int, Actives],
    heap: list[int],
) -> None:
    """Move every active lexeme along the state's edges; deliver items where a lexeme ends."""
    if not actives:
        return
    width = canvas.width
    moves = rules.moves
    for edge in canvas.edges(state):
        target = edge.target
        out: Actives | None = None
        delivered: set[tuple[int, int]] = set()
        for key, dfa_states in actives.items():
            origin, slot = key
            for dfa_state in dfa_states:
                for next_state, accepting in moves(slot, dfa_state, edge.mask, edge.byte):
                    if out is None:
                        out = actives_in.get(target)
                        if out is None:
                            out = actives_in[target] = {}
                            heapq.heappush(heap, target)
                    out.setdefault(key, set()).add(next_state)
                    if accepting and key not in delivered:
                        delivered.add(key)
                        source = column if origin == state else columns[origin // width][origin]
                        kernel = kernels.get(target)
                        if kernel is None:
                            kernel = kernels[target] = set()
                        kernel.update(source.pending[slot])  # type: ignore[union-attr]


def _last_at_most(values: list[int], bound: int) -> int:
    """Index of the last value <= bound in an ascending list, or -1."""
    return bisect.bisect_right(values, bound) - 1
