"""Deterministic automata over UTF-8 bytes, and the compiler from regex terminals to them.

A :class:`ByteDFA` is two arrays a lexer or a Numba kernel can step directly:
``transitions[state, byte]`` (``-1`` = dead) and ``accepting[state]``. Every DFA this
module returns is *trimmed* (each state is reachable from state 0 and can still reach an
accepting state, so "the run has not died" means "the prefix can be completed") and
*minimal* (which keeps the lexer's product automata small).

Regexes are compiled at the level of characters first, where the alphabet is a handful
of code point classes instead of 256 bytes: parse (``regex_parse``), Thompson NFA over
those classes with zero-width assertions, subset construction, minimization, and only
then each character transition is expanded into its UTF-8 byte trie (``charset``).
This is both fast and exact: the byte DFA accepts exactly the UTF-8 encodings of the
strings the regex matches, never a malformed or partial character.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from constrain.charset import ALL_SCALARS, NEWLINE, CodepointSet, partition_codepoints, utf8_dispatch
from constrain.errors import CompileBudgetError, GrammarError
from constrain.regex_parse import (
    Alternation,
    Assertion,
    AssertionKind,
    CharClass,
    Concat,
    Node,
    Repeat,
    abbreviate,
    parse_regex,
)


@dataclass(frozen=True, eq=False)
class ByteDFA:
    """Deterministic automaton over bytes; state 0 is the start state.

    ``transitions``: int32 ``(n_states, 256)``, ``-1`` = no transition. ``accepting``: bool
    ``(n_states,)``. Invariant: trimmed (see module docstring); the empty language is the
    DFA with 0 states. Arrays are read-only; DFAs are hashed by identity.
    """

    transitions: np.ndarray
    accepting: np.ndarray

    def __post_init__(self) -> None:
        transitions = np.ascontiguousarray(self.transitions, dtype=np.int32)
        accepting = np.ascontiguousarray(self.accepting, dtype=np.bool_)
        if transitions.ndim != 2 or transitions.shape[1] != 256 or accepting.shape != transitions.shape[:1]:
            raise ValueError("expected transitions of shape (n, 256) and accepting of shape (n,)")
        transitions.flags.writeable = False
        accepting.flags.writeable = False
        object.__setattr__(self, "transitions", transitions)
        object.__setattr__(self, "accepting", accepting)

    @property
    def n_states(self) -> int:
        return len(self.accepting)

    @property
    def is_empty(self) -> bool:
        return self.n_states == 0

    @property
    def accepts_empty(self) -> bool:
        return self.n_states > 0 and bool(self.accepting[0])

    def _run(self, data: bytes) -> int:
        """The state reached after ``data``, or -1 once the run dies."""
        if self.is_empty:
            return -1
        table = self.transitions
        state = 0
        for byte in data:
            state = table[state, byte]
            if state < 0:
                return -1
        return int(state)

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` is in the language (full match)."""
        state = self._run(data)
        return state >= 0 and bool(self.accepting[state])

    def is_viable_prefix(self, data: bytes) -> bool:
        """Whether some extension of ``data`` is in the language."""
        return self._run(data) >= 0

    def intersect(self, other: ByteDFA) -> ByteDFA:
        return _product(self, other, "and")

    def union(self, other: ByteDFA) -> ByteDFA:
        return _product(self, other, "or")

    def difference(self, other: ByteDFA) -> ByteDFA:
        """L(self) minus L(other)."""
        return _product(self, other, "minus")

    def concat(self, other: ByteDFA) -> ByteDFA:
        return _concat(self, other)

    def after(self, data: bytes) -> ByteDFA:
        """The texts ``w`` with ``data + w`` in the language (the derivative by ``data``).

        The states reachable from a state of a minimal DFA are pairwise distinguishable, so
        renumbering that state as the start and dropping the rest keeps the result minimal.
        """
        state = self._run(data)
        if state < 0:
            return _EMPTY
        order = np.arange(self.n_states)
        order[[0, state]] = order[[state, 0]]
        position = np.argsort(order)
        rows = self.transitions[order]
        table = np.where(rows >= 0, position[np.maximum(rows, 0)], -1)
        return ByteDFA(*_trim(table, self.accepting[order]))

    def without_empty(self) -> ByteDFA:
        """The same language minus the empty string."""
        if not self.accepts_empty:
            return self
        shifted = np.where(self.transitions >= 0, self.transitions + 1, -1)
        table = np.vstack([shifted[:1], shifted])
        return _normalized(table, np.concatenate([[False], self.accepting]))

    def minimize(self) -> ByteDFA:
        return ByteDFA(*_minimize(self.transitions, self.accepting))

    @classmethod
    def from_codepoints(cls, cps: CodepointSet) -> ByteDFA:
        """Exactly one character from ``cps``, UTF-8 encoded."""
        if cps.is_empty:
            return _EMPTY
        trie = utf8_dispatch((cps,)).rows
        final = len(trie)
        table = np.vstack([np.where(trie == -2, final, trie), np.full((1, 256), -1)])
        return cls(table, np.arange(final + 1) == final)

    @classmethod
    def literal(cls, data: bytes) -> ByteDFA:
        """Exactly the byte string ``data``."""
        table = np.full((len(data) + 1, 256), -1, dtype=np.int32)
        table[np.arange(len(data)), list(data)] = np.arange(1, len(data) + 1)
        return cls(table, np.arange(len(data) + 1) == len(data))


_EMPTY = ByteDFA(np.zeros((0, 256), dtype=np.int32), np.zeros(0, dtype=bool))


# ---------------------------------------------------------------------------------------
# Table algorithms. They take any number of columns, so the compiler uses them on its
# character-class tables too.


def _normalized(table: np.ndarray, accepting: np.ndarray) -> ByteDFA:
    return ByteDFA(*_minimize(*_trim(table, accepting)))


def _reachable(n: int, src: np.ndarray, dst: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """States reachable from ``seeds`` along edges ``src -> dst`` (depth first over distinct edges)."""
    src, dst = np.divmod(np.unique(src.astype(np.int64) * n + dst), n)
    offsets = np.searchsorted(src, np.arange(n + 1)).tolist()
    targets = dst.tolist()
    seen = [False] * n
    stack = list(dict.fromkeys(np.asarray(seeds).tolist()))
    for state in stack:
        seen[state] = True
    while stack:
        state = stack.pop()
        for target in targets[offsets[state] : offsets[state + 1]]:
            if not seen[target]:
                seen[target] = True
                stack.append(target)
    return np.array(seen, dtype=bool)


def _trim(table: np.ndarray, accepting: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop states unreachable from 0 or unable to reach acceptance; 0 stays the start."""
    n = len(accepting)
    if n == 0:
        return table, accepting
    src, col = np.nonzero(table >= 0)
    dst = table[src, col]
    keep = _reachable(n, src, dst, np.array([0])) & _reachable(n, dst, src, np.flatnonzero(accepting))
    if not keep[0]:
        return table[:0], accepting[:0]
    if keep.all():
        return table, accepting
    new_id = np.where(keep, np.cumsum(keep) - 1, -1)
    kept = table[keep]
    return np.where(kept >= 0, new_id[kept], -1), accepting[keep]


_MOORE_ROUNDS = 24
_MOORE_WORK = 20_000_000  # table cells visited by Moore's rounds before Hopcroft takes over


def _minimize(table: np.ndarray, accepting: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge equivalent states of a trimmed table; state 0's class stays 0.

    Vectorized rounds of Moore's refinement settle typical automata, whose states differ
    within a short distance, and small deep ones (chains of key spellings) as long as the
    rounds stay cheap; large deep ones (long chains from bounded repeats) are finished by
    Hopcroft's algorithm, whose cost does not grow with the depth but whose Python loop is
    slow per state.

    The refinement starts from acceptance and the set of symbols a state has transitions
    on: in a trimmed table a missing transition means an empty derivative, which
    equivalent states share, so this partition is still coarser than equivalence; it
    separates at once the states of a chain that differ in the next symbol (a spelled-out
    literal), which the rounds would otherwise tell apart only one step per round.
    """
    n = len(accepting)
    if n <= 1:
        return table, accepting
    _, distinct_columns = np.unique(_row_ids(table.T), return_index=True)
    columns = table[:, distinct_columns]  # bytes that act alike everywhere are one symbol
    complete = np.vstack([np.where(columns >= 0, columns, n), np.full((1, columns.shape[1]), n)])
    initial = _row_ids(np.column_stack([np.append(accepting, False), complete != n]))
    rounds = max(_MOORE_ROUNDS, _MOORE_WORK // complete.size)  # small tables afford deep refinement
    block = _moore(complete, initial, rounds, _hashed_round)
    if block is not None and not _is_stable(complete, initial, block):
        block = _moore(complete, initial, rounds, _exact_round)  # a hash collision merged too much
    if block is None:
        block = _hopcroft(complete, initial)
    _, first, block = np.unique(block[:n], return_index=True, return_inverse=True)
    if len(first) == n:
        return table, accepting
    order = np.argsort(first)  # classes numbered by their first state: state 0 -> class 0
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    block = rank[np.ravel(block)]
    representatives = table[first[order]]
    return np.where(representatives >= 0, block[representatives], -1), accepting[first[order]]


def _moore(complete: np.ndarray, block: np.ndarray, rounds: int, refine) -> np.ndarray | None:
    """Moore's rounds from the partition ``block`` until one splits nothing (None: out of rounds)."""
    count = int(block.max()) + 1
    for _ in range(rounds):
        block = refine(complete, block)
        if block.max() + 1 == count:
            return block
        count = int(block.max()) + 1
    return None


def _hashed_round(complete: np.ndarray, block: np.ndarray) -> np.ndarray:
    """One round, grouping states by a hash of (block, successors' blocks), unverified.

    A collision can only merge groups, never split one, so the partition stays coarser
    than equivalence; ``_is_stable`` then tells whether it went too far.
    """
    weights = _hash_weights(complete.shape[1] + 1)
    hashes = block.astype(np.uint64) * weights[0]
    hashes += (block[complete].astype(np.uint64) * weights[1:]).sum(axis=1, dtype=np.uint64)
    return np.ravel(np.unique(hashes, return_inverse=True)[1])


def _exact_round(complete: np.ndarray, block: np.ndarray) -> np.ndarray:
    return _row_ids(np.column_stack([block, block[complete]]))


def _is_stable(complete: np.ndarray, initial: np.ndarray, block: np.ndarray) -> bool:
    """Whether the states of each group agree on ``initial`` and on their successors' groups.

    Such a partition is a bisimulation refining acceptance: its groups are equivalent states.
    """
    rows = np.column_stack([initial, block[complete]])
    _, first = np.unique(block, return_index=True)
    return bool(np.array_equal(rows, rows[first[block]]))


def _row_ids(rows: np.ndarray) -> np.ndarray:
    """Dense ids numbering the distinct rows of an integer matrix (equal rows, equal ids).

    Rows are hashed to one integer each, which is much faster than sorting whole rows; the
    grouping is then verified exactly and redone by sorting in the (unlikely) event of a
    hash collision.
    """
    hashes = (rows.astype(np.uint64) * _hash_weights(rows.shape[1])).sum(axis=1, dtype=np.uint64)
    _, first, ids = np.unique(hashes, return_index=True, return_inverse=True)
    ids = np.ravel(ids)
    if np.array_equal(rows, rows[first[ids]]):
        return ids
    return np.ravel(np.unique(rows, axis=0, return_inverse=True)[1])


@lru_cache(maxsize=512)
def _hash_weights(n_columns: int) -> np.ndarray:
    """Fixed random weights per column count (drawing them anew costs more than hashing)."""
    weights = np.random.default_rng(n_columns).integers(1, 2**63, size=n_columns, dtype=np.uint64)
    weights.flags.writeable = False
    return weights


def _hopcroft(complete: np.ndarray, block: np.ndarray) -> np.ndarray:
    """Refine a partition (coarser than equivalence) of a complete table to the coarsest stable one."""
    n, k = complete.shape
    preds_by_symbol = []
    for symbol in range(k):
        order = np.argsort(complete[:, symbol], kind="stable")
        offsets = np.searchsorted(complete[order, symbol], np.arange(n + 1))
        preds_by_symbol.append((order.tolist(), offsets.tolist()))
    block_of = block.tolist()
    members: list[set[int]] = [set() for _ in range(max(block_of) + 1)]
    for state, b in enumerate(block_of):
        members[b].add(state)
    largest = max(range(len(members)), key=lambda b: len(members[b]))
    pending = {(b, symbol) for b in range(len(members)) if b != largest for symbol in range(k)}
    while pending:
        splitter, symbol = pending.pop()
        order, offsets = preds_by_symbol[symbol]
        touched: dict[int, list[int]] = {}
        for target in members[splitter]:
            for pred in order[offsets[target] : offsets[target + 1]]:
                touched.setdefault(block_of[pred], []).append(pred)
        for old, preds in touched.items():
            if len(preds) == len(members[old]):
                continue
            inside = set(preds)
            outside = members[old] - inside
            moved, stays = (inside, outside) if len(inside) <= len(outside) else (outside, inside)
            new = len(members)
            members[old] = stays
            members.append(moved)
            for state in moved:
                block_of[state] = new
            # `moved` is the smaller half: it is the one to split by, whether or not `old` is pending.
            pending.update((new, sym) for sym in range(k))
    return np.array(block_of, dtype=np.int64)


# ---------------------------------------------------------------------------------------
# Set operations.


def _product(a: ByteDFA, b: ByteDFA, mode: Literal["and", "or", "minus"]) -> ByteDFA:
    """Breadth-first product over the reachable pairs; a missing side is a dead sink.

    A pair ``(p, q)`` is coded ``p * width + q``. It runs over byte classes (bytes on which
    both automata act alike), and a level whose frontier is small is stepped in Python:
    automata with long chains (spelled-out literals, counted lengths) have many tiny
    levels, where numpy's per-call cost dominates.
    """
    na, nb = a.n_states, b.n_states
    if mode != "or" and (na == 0 or (mode == "and" and nb == 0)):
        return _EMPTY
    joint = np.vstack([a.transitions, b.transitions]).T
    _, representative, byte_class = np.unique(_row_ids(joint), return_index=True, return_inverse=True)
    k = len(representative)
    width = nb + 1
    ta, tb, dead = _product_tables(a, b, mode, representative)
    if dead == 0:
        return _EMPTY
    rows_a, rows_b = ta.tolist(), tb.tolist()
    ids = {0: 0}
    levels: list[np.ndarray] = []
    small: list[list[int]] = []  # rows of Python-stepped levels not yet stacked
    frontier = [0]
    while frontier:
        if len(frontier) * k <= _PYTHON_LEVEL_CELLS:
            level = [
                [x * width + y for x, y in zip(rows_a[p], rows_b[q], strict=True)]
                for p, q in (divmod(code, width) for code in frontier)
            ]
            small += level
            reached = (c for row in level for c in row if c >= 0 and c != dead and c not in ids)
            fresh = list(dict.fromkeys(reached))
        else:
            if small:
                levels.append(np.array(small, dtype=np.int64).reshape(-1, k))
                small = []
            p, q = np.divmod(np.array(frontier, dtype=np.int64), width)
            codes = ta[p] * width + tb[q]
            levels.append(codes)
            fresh = [c for c in np.unique(codes).tolist() if c >= 0 and c != dead and c not in ids]
        for code in fresh:
            ids[code] = len(ids)
        frontier = fresh
    if small:
        levels.append(np.array(small, dtype=np.int64).reshape(-1, k))
    codes = np.vstack(levels)
    codes[(codes < 0) | (codes == dead)] = -1
    known = np.array(sorted(ids))
    id_of = np.array([ids[c] for c in known.tolist()])
    table = np.where(codes >= 0, id_of[np.searchsorted(known, np.maximum(codes, 0))], -1)
    pairs = np.array(list(ids))  # insertion order = state order
    p, q = np.divmod(pairs, width)
    acc_a, acc_b = np.append(a.accepting, False), np.append(b.accepting, False)
    if mode == "and":
        accepting = acc_a[p] & acc_b[q]
    elif mode == "or":
        accepting = acc_a[p] | acc_b[q]
    else:
        accepting = acc_a[p] & ~acc_b[q]
    return _normalized(table[:, np.ravel(byte_class)], accepting)


_PYTHON_LEVEL_CELLS = 256  # below this many (pair, class) cells a level is cheaper in Python


def _product_tables(
    a: ByteDFA, b: ByteDFA, mode: str, columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """int64 tables over the byte classes ``columns``, with a dead sink row, and the dead code.

    Missing transitions go to the sink (``n_states``). Where a dead side kills the pair
    (either side for "and", the left one for "minus") the sink is renumbered so that every
    code it enters is negative; "or" dies only in the one pair of both sinks, whose code
    is returned (-1 for the others, which no code equals).
    """
    na, nb = a.n_states, b.n_states
    width = nb + 1
    ta = np.vstack([np.where(a.transitions >= 0, a.transitions, na), np.full((1, 256), na)])
    tb = np.vstack([np.where(b.transitions >= 0, b.transitions, nb), np.full((1, 256), nb)])
    ta, tb = ta[:, columns].astype(np.int64), tb[:, columns].astype(np.int64)
    if mode == "or":
        return ta, tb, na * width + nb
    ta[ta == na] = -1  # -width + q < 0 for every q <= nb
    if mode == "and":
        tb[tb == nb] = -(na + 1) * width  # p * width - (na + 1) * width < 0 for every p <= na
    return ta, tb, -1


def _concat(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """Subset construction over (state of a, set of states of b), one byte class at a time."""
    if a.is_empty or b.is_empty:
        return _EMPTY
    joint = np.vstack([a.transitions, b.transitions]).T
    _, representative, byte_class = np.unique(_row_ids(joint), return_index=True, return_inverse=True)
    n_classes = len(representative)
    ta, tb = a.transitions[:, representative].tolist(), b.transitions[:, representative].tolist()
    acc_a, acc_b = a.accepting.tolist(), b.accepting.tolist()
    dead_a = [-1] * n_classes
    start = (0, frozenset([0]) if acc_a[0] else frozenset())
    ids = {start: 0}
    states = [start]
    rows = []
    for state_a, states_b in states:
        columns_b = zip(*(tb[s] for s in states_b), strict=True) if states_b else [()] * n_classes
        row = []
        for next_a, column_b in zip(ta[state_a] if state_a >= 0 else dead_a, columns_b, strict=True):
            next_b = set(column_b)
            next_b.discard(-1)
            if next_a >= 0 and acc_a[next_a]:
                next_b.add(0)
            if next_a < 0 and not next_b:
                row.append(-1)
                continue
            key = (next_a, frozenset(next_b))
            if key not in ids:
                ids[key] = len(states)
                states.append(key)
            row.append(ids[key])
        rows.append(row)
    table = np.array(rows, dtype=np.int32)[:, np.ravel(byte_class)]
    accepting = np.array([any(acc_b[s] for s in states_b) for _, states_b in states])
    return _normalized(table, accepting)


# ---------------------------------------------------------------------------------------
# Regex compilation.


class _Budget:
    """Size and time limits of one compilation; violations name the pattern."""

    def __init__(self, pattern: str, max_states: int, deadline: float | None) -> None:
        self.pattern, self.max_states, self.deadline = pattern, max_states, deadline

    def check_size(self, count: int, what: str) -> None:
        if count > self.max_states:
            raise CompileBudgetError(
                f"regex {abbreviate(self.pattern)} needs more than max_states={self.max_states} "
                f"{what} states (at least {count})"
            )

    def check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise CompileBudgetError(f"regex {abbreviate(self.pattern)} exceeded its compile deadline")


class _Alphabet:
    """The atoms the character-level automaton reads; each class of the regex is a bitmask of atoms."""

    def __init__(self, classes: list[CodepointSet]) -> None:
        self.atoms, self.mask = partition_codepoints(classes)
        self.newline = next((i for i, atom in enumerate(self.atoms) if atom == NEWLINE), None)

    def union(self, atom_mask: int) -> CodepointSet:
        return CodepointSet.from_ranges(r for i in _bits(atom_mask) for r in self.atoms[i].ranges)


def _bits(x: int):
    while x:
        low = x & -x
        yield low.bit_length() - 1
        x ^= low


def _classes(node: Node) -> list[CodepointSet]:
    if isinstance(node, CharClass):
        return [node.chars]
    if isinstance(node, Concat):
        return [cs for part in node.parts for cs in _classes(part)]
    if isinstance(node, Alternation):
        return [cs for option in node.options for cs in _classes(option)]
    if isinstance(node, Repeat):
        return _classes(node.body)
    return [NEWLINE]  # assertions look at \n, so it must be an atom of its own


def _nfa_size(node: Node) -> int:
    """Upper bound on the NFA states ``node`` takes, computed without expanding repeats."""
    if isinstance(node, Concat):
        return sum(map(_nfa_size, node.parts))
    if isinstance(node, Alternation):
        return sum(map(_nfa_size, node.options)) + 1
    if isinstance(node, Repeat):
        copies = node.min + (1 if node.max is None else node.max - node.min)
        return _nfa_size(node.body) * copies + 1
    return 1


# Obligations a thread carries after an end-of-text assertion, from strongest to none:
# the rest of the text must be "" / "" or "\n" / "" or start with "\n" / anything.
_AT_END, _AT_FINAL_NEWLINE, _AT_NEWLINE, _FREE = range(4)
_OBLIGATION = {
    AssertionKind.TEXT_END: _AT_END,
    AssertionKind.END_OR_FINAL_NEWLINE: _AT_FINAL_NEWLINE,
    AssertionKind.LINE_END: _AT_NEWLINE,
}
_TEXT_START, _AFTER_NEWLINE, _ELSEWHERE = range(3)  # what precedes the current position


class _CharNFA:
    """Thompson NFA over atoms; epsilon edges may carry an assertion."""

    def __init__(self, node: Node, alphabet: _Alphabet, budget: _Budget) -> None:
        self.alphabet, self.budget = alphabet, budget
        self.eps: list[list[tuple[int, AssertionKind | None]]] = []
        self.moves: list[list[tuple[int, int]]] = []
        self.start = self.new()
        self.final = self.build(node, self.start)

    def new(self) -> int:
        self.eps.append([])
        self.moves.append([])
        if len(self.eps) % 1024 == 0:
            self.budget.check_time()
        return len(self.eps) - 1

    def build(self, node: Node, entry: int) -> int:
        """Add ``node`` starting at ``entry``; returns its exit state.

        No edge added ever leads back to ``entry``, which is what lets alternatives and
        repetitions share entry states safely.
        """
        if isinstance(node, CharClass):
            exit_ = self.new()
            if node.chars in self.alphabet.mask:
                self.moves[entry].append((self.alphabet.mask[node.chars], exit_))
            return exit_
        if isinstance(node, Assertion):
            exit_ = self.new()
            self.eps[entry].append((exit_, node.kind))
            return exit_
        if isinstance(node, Concat):
            for part in node.parts:
                entry = self.build(part, entry)
            return entry
        if isinstance(node, Alternation):
            exit_ = self.new()
            for option in node.options:
                self.eps[self.build(option, entry)].append((exit_, None))
            return exit_
        for _ in range(node.min):
            entry = self.build(node.body, entry)
        if node.max is None:
            hub = self.new()  # a fresh state, so the loop cannot re-enter what precedes it
            self.eps[entry].append((hub, None))
            self.eps[self.build(node.body, hub)].append((hub, None))
            return hub
        exit_ = self.new()
        for _ in range(node.max - node.min):
            self.eps[entry].append((exit_, None))
            entry = self.build(node.body, entry)
        self.eps[entry].append((exit_, None))
        return exit_


class _Determinizer:
    """Subset construction; a DFA state is a bitmask of threads ``4 * nfa_state + obligation``.

    Start-of-text/line assertions are decided when a closure is taken (the byte just read
    is known); end-of-text/line assertions become obligations on what follows.
    """

    def __init__(self, nfa: _CharNFA, budget: _Budget) -> None:
        self.nfa, self.budget = nfa, budget
        self.n_atoms = len(nfa.alphabet.atoms)
        self.newline = nfa.alphabet.newline
        self.closures: dict[tuple[int, int, int], int] = {}
        self.steps: dict[int, list[int]] = {}

    def closure(self, state: int, obligation: int, context: int) -> int:
        key = (state, obligation, context)
        if key not in self.closures:
            found, stack, seen = 0, [(state, obligation)], set()
            while stack:
                here = stack.pop()
                if here in seen:
                    continue
                seen.add(here)
                q, ob = here
                if self.nfa.moves[q] or q == self.nfa.final:
                    found |= 1 << (4 * q + ob)
                for target, kind in self.nfa.eps[q]:
                    if kind is None:
                        stack.append((target, ob))
                    elif kind is AssertionKind.TEXT_START:
                        if context == _TEXT_START:
                            stack.append((target, ob))
                    elif kind is AssertionKind.LINE_START:
                        if context != _ELSEWHERE:
                            stack.append((target, ob))
                    else:
                        stack.append((target, min(ob, _OBLIGATION[kind])))
            self.closures[key] = found
        return self.closures[key]

    def step(self, thread: int) -> list[int]:
        """For each atom, the threads one thread becomes after reading it."""
        if thread not in self.steps:
            q, ob = divmod(thread, 4)
            row = [0] * self.n_atoms
            if ob != _AT_END:
                for atom_mask, target in self.nfa.moves[q]:
                    if ob != _FREE:  # only a newline may come next
                        atom_mask &= 0 if self.newline is None else 1 << self.newline
                    next_ob = _AT_END if ob == _AT_FINAL_NEWLINE else _FREE
                    after_other = self.closure(target, next_ob, _ELSEWHERE)
                    for atom in _bits(atom_mask):
                        if atom == self.newline:
                            row[atom] |= self.closure(target, next_ob, _AFTER_NEWLINE)
                        else:
                            row[atom] |= after_other
            self.steps[thread] = row
        return self.steps[thread]

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        final_threads = sum(1 << (4 * self.nfa.final + ob) for ob in range(4))
        start = self.closure(self.nfa.start, _FREE, _TEXT_START)
        index = {start: 0}
        sets, rows = [start], []
        for current in sets:
            targets = [0] * self.n_atoms
            for thread in _bits(current):
                targets = [t | s for t, s in zip(targets, self.step(thread), strict=True)]
            row = []
            for target in targets:
                if target and target not in index:
                    index[target] = len(sets)
                    sets.append(target)
                    self.budget.check_size(len(sets), "DFA")
                    if len(sets) % 128 == 0:
                        self.budget.check_time()
                row.append(index[target] if target else -1)
            rows.append(row)
        table = np.array(rows, dtype=np.int32).reshape(len(sets), self.n_atoms)
        return table, np.array([bool(s & final_threads) for s in sets])


def _expand_utf8(table: np.ndarray, accepting: np.ndarray, alphabet: _Alphabet, budget: _Budget) -> ByteDFA:
    """Replace each character transition of a minimal DFA over atoms by its UTF-8 byte trie.

    Character states keep their ids; each distinct (classes, targets) gets one copy of
    its trie's inner nodes, and equal inner nodes are then merged level by level, which
    makes the byte DFA minimal as well.
    """
    n = len(accepting)
    if n == 0:
        return _EMPTY
    unions: dict[int, CodepointSet] = {}
    instances: dict[tuple, np.ndarray] = {}  # (classes, targets) -> root row
    roots, inner_rows, inner_levels, size = [], [], [], n
    for row in table.tolist():
        by_target: dict[int, int] = {}
        for atom, target in enumerate(row):
            if target >= 0:
                by_target[target] = by_target.get(target, 0) | 1 << atom
        for mask in by_target.values():
            if mask not in unions:
                unions[mask] = alphabet.union(mask)
        slots = sorted(by_target.items(), key=lambda item: unions[item[1]].ranges[0])
        classes = tuple(unions[mask] for _, mask in slots)
        key = (classes, tuple(target for target, _ in slots))
        if key not in instances:
            trie = utf8_dispatch(classes)
            lookup = np.concatenate([key[1][::-1], [-1, -1], size + np.arange(len(trie.rows) - 1)])
            mapped = lookup[trie.rows + len(classes) + 1]
            instances[key] = mapped[0]
            inner_rows.append(mapped[1:])
            inner_levels.append(trie.levels[1:])
            size += len(trie.rows) - 1
            budget.check_size(size, "byte DFA")
            if len(instances) % 256 == 0:
                budget.check_time()
        roots.append(instances[key])
    full = np.vstack([np.array(roots).reshape(n, 256), *inner_rows]).astype(np.int32)
    levels = np.concatenate([np.zeros(n, dtype=np.int8), *inner_levels])
    full, keep = _merge_equal_inner_nodes(full, levels)
    return ByteDFA(full, np.concatenate([accepting, np.zeros(len(keep) - n, dtype=bool)])[keep])


def _merge_equal_inner_nodes(table: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge identical rows among nodes expecting 1, then 2, then 3 more continuation bytes."""
    representative = np.arange(len(table))
    for level in (1, 2, 3):
        first_with_row: dict[bytes, int] = {}
        for node in np.flatnonzero(levels == level).tolist():
            representative[node] = first_with_row.setdefault(table[node].tobytes(), node)
        table = np.where(table >= 0, representative[table], -1)
    keep = representative == np.arange(len(table))
    new_id = np.cumsum(keep) - 1
    kept = table[keep]
    return np.where(kept >= 0, new_id[kept], -1), keep


def _compile(pattern: str, dialect: str, search: bool, budget: _Budget) -> ByteDFA:
    budget.check_time()
    node = parse_regex(pattern, dialect)
    if search:
        anything = Repeat(CharClass(ALL_SCALARS), 0, None)
        node = Concat((anything, node, anything))
    budget.check_size(_nfa_size(node), "NFA")
    alphabet = _Alphabet(_classes(node))
    table, accepting = _Determinizer(_CharNFA(node, alphabet, budget), budget).run()
    table, accepting = _minimize(*_trim(table, accepting))
    return _expand_utf8(table, accepting, alphabet, budget)


# (pattern, dialect, search) -> (the smallest max_states it compiled within, its DFA). The
# limits only ever raise, so a pattern that compiled within a budget compiles to the same
# automaton within any larger one.
_CACHE: OrderedDict[tuple, tuple[int, ByteDFA]] = OrderedDict()
_CACHE_SIZE = 1024


def compile_regex_dfa(
    pattern: str,
    dialect: Literal["python", "ecma"] = "python",
    *,
    search: bool = False,
    max_states: int = 20_000,
    deadline: float | None = None,
) -> ByteDFA:
    """The minimal trimmed byte DFA of ``pattern``'s language over UTF-8 text.

    ``search=False``: strings the pattern fully matches (``re.fullmatch``); ``search=True``:
    strings in which it matches somewhere (``re.search``). Raises GrammarError for bad or
    unsupported patterns and CompileBudgetError past ``max_states`` or ``deadline``
    (a ``time.monotonic()`` value). Results are cached per (pattern, dialect, search).
    """
    key = (pattern, dialect, search)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] <= max_states:
        _CACHE.move_to_end(key)
        return cached[1]
    try:
        dfa = _compile(pattern, dialect, search, _Budget(pattern, max_states, deadline))
    except RecursionError:
        raise GrammarError(f"regex {abbreviate(pattern)} is nested too deeply") from None
    _CACHE[key] = (max_states, dfa)  # a smaller budget than the cached one's, or none cached
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return dfa
