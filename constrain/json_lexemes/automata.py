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


def check_deadline(deadline: float | None, what: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise CompileBudgetError(f"{what} exceeded its compile deadline")
