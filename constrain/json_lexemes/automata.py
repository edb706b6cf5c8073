"""What this package needs on top of ``ByteDFA``: tables to DFAs, and deadlines.

The lexeme builders produce raw ``(transitions, accepting)`` tables that may contain
useless states; ``ByteDFA`` requires trimmed automata, so every table goes through
:func:`table_dfa`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from constrain.byte_dfa import ByteDFA
from constrain.errors import CompileBudgetError

EMPTY = ByteDFA(np.zeros((0, 256), dtype=np.int32), np.zeros(0, dtype=np.bool_))


def table_dfa(transitions: np.ndarray, accepting: np.ndarray) -> ByteDFA:
    """The trimmed, minimized DFA of a table whose start state is 0."""
    keep = _reachable(transitions, np.array([0])) & _reachable(
        _reversed(transitions), np.flatnonzero(accepting)
    )
    if len(keep) == 0 or not keep[0]:
        return EMPTY
    new_id = np.where(keep, np.cumsum(keep) - 1, -1)
    kept = transitions[keep]
    return ByteDFA(np.where(kept >= 0, new_id[kept], -1), accepting[keep]).minimize()


def _reversed(transitions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predecessor lists as (sorted targets' offsets, sources) for backward search."""
    source, column = np.nonzero(transitions >= 0)
    target = transitions[source, column]
    order = np.argsort(target, kind="stable")
    offsets = np.searchsorted(target[order], np.arange(len(transitions) + 1))
    return offsets, source[order]


def _reachable(edges: np.ndarray | tuple[np.ndarray, np.ndarray], seeds: np.ndarray) -> np.ndarray:
    """States reachable from ``seeds``: ``edges`` is a transition table or a reversed one."""
    n = len(edges) if isinstance(edges, np.ndarray) else len(edges[0]) - 1
    seen = np.zeros(n, dtype=np.bool_)
    seen[seeds] = True
    frontier = np.asarray(seeds)
    while frontier.size:
        if isinstance(edges, np.ndarray):
            found = edges[frontier].ravel()
            found = found[found >= 0]
        else:
            offsets, sources = edges
            starts, counts = offsets[frontier], offsets[frontier + 1] - offsets[frontier]
            found = sources[np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())]
        frontier = np.unique(found[~seen[found]])
        seen[frontier] = True
    return seen


def trie_dfa(words: Iterable[bytes]) -> ByteDFA:
    """Exactly the given byte strings (a minimized trie)."""
    children: list[dict[int, int]] = [{}]
    ends = {0: False}
    for word in words:
        node = 0
        for byte in word:
            if byte not in children[node]:
                children[node][byte] = len(children)
                children.append({})
                ends[len(children) - 1] = False
            node = children[node][byte]
        ends[node] = True
    table = np.full((len(children), 256), -1, dtype=np.int32)
    for node, edges in enumerate(children):
        table[node, list(edges)] = list(edges.values())
    return table_dfa(table, np.array([ends[node] for node in range(len(children))], dtype=np.bool_))


def finite_words(dfa: ByteDFA, limit: int) -> list[bytes] | None:
    """The words of ``dfa`` if its language is finite with at most ``limit`` words, else None.

    Every state of a trimmed DFA is on a path to acceptance, so a cycle means infinitely
    many words. Words are counted per state (capped past ``limit``) before any is spelled.
    """
    if dfa.is_empty:
        return []
    live = dfa.transitions >= 0
    if live.sum(axis=1).max() > limit:
        return None  # each edge of a trimmed DFA starts words of its own
    sources, symbols = np.nonzero(live)
    if len(sources) > _MAX_ENUMERATED_EDGES:
        return None
    out: list[list[tuple[int, int]]] = [[] for _ in range(dfa.n_states)]
    for source, symbol, target in zip(
        sources.tolist(), symbols.tolist(), dfa.transitions[sources, symbols].tolist(), strict=True
    ):
        out[source].append((symbol, target))
    counts = _word_counts(out, dfa.accepting.tolist(), limit)
    if counts is None or counts[0] > limit:
        return None
    words: list[bytes] = []
    stack = [(0, b"")]
    while stack:
        state, prefix = stack.pop()
        if dfa.accepting[state]:
            words.append(prefix)
        stack.extend((target, prefix + bytes([symbol])) for symbol, target in out[state])
    return words


_MAX_ENUMERATED_EDGES = 4096  # past this, spelling the words out would not pay


def _word_counts(out: list[list[tuple[int, int]]], accepting: list[bool], limit: int) -> list[int] | None:
    """Words accepted from each state (``limit + 1`` standing for more); None on a cycle."""
    counts: list[int] = [-1] * len(out)  # -1: not reached, -2: on the current path
    stack = [(0, 0)]
    counts[0] = -2
    while stack:
        state, next_edge = stack.pop()
        if next_edge < len(out[state]):
            stack.append((state, next_edge + 1))
            target = out[state][next_edge][1]
            if counts[target] == -2:
                return None
            if counts[target] == -1:
                counts[target] = -2
                stack.append((target, 0))
            continue
        total = int(accepting[state]) + sum(counts[target] for _, target in out[state])
        counts[state] = min(total, limit + 1)
    return counts


def check_deadline(deadline: float | None, what: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise CompileBudgetError(f"{what} exceeded its compile deadline")
