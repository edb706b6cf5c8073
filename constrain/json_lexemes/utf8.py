"""Byte tables for decoded values: valid UTF-8, and counting code points.

A decoded JSON string is a sequence of Unicode scalar values (no surrogates), so its
UTF-8 bytes are exactly the strings of the well-formed UTF-8 automaton below (Unicode
Table 3-7: no overlong forms, nothing above U+10FFFF, no U+D800..U+DFFF).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from constrain.errors import CompileBudgetError

# Bytes that continue a character; every other byte starts one.
CONTINUATION = np.zeros(256, dtype=np.bool_)
CONTINUATION[0x80:0xC0] = True

# (state, first byte, last byte, next state) of the well-formed UTF-8 automaton.
# State 0 is between characters; 1..7 are inside one, named by what they still need.
_BETWEEN, _ONE_MORE, _TWO_MORE, _AFTER_E0, _AFTER_ED, _THREE_MORE, _AFTER_F0, _AFTER_F4 = range(8)
_UTF8_EDGES = (
    (_BETWEEN, 0x00, 0x7F, _BETWEEN),
    (_BETWEEN, 0xC2, 0xDF, _ONE_MORE),
    (_BETWEEN, 0xE0, 0xE0, _AFTER_E0),
    (_BETWEEN, 0xE1, 0xEC, _TWO_MORE),
    (_BETWEEN, 0xED, 0xED, _AFTER_ED),
    (_BETWEEN, 0xEE, 0xEF, _TWO_MORE),
    (_BETWEEN, 0xF0, 0xF0, _AFTER_F0),
    (_BETWEEN, 0xF1, 0xF3, _THREE_MORE),
    (_BETWEEN, 0xF4, 0xF4, _AFTER_F4),
    (_ONE_MORE, 0x80, 0xBF, _BETWEEN),
    (_TWO_MORE, 0x80, 0xBF, _ONE_MORE),
    (_AFTER_E0, 0xA0, 0xBF, _ONE_MORE),
    (_AFTER_ED, 0x80, 0x9F, _ONE_MORE),
    (_THREE_MORE, 0x80, 0xBF, _TWO_MORE),
    (_AFTER_F0, 0x90, 0xBF, _TWO_MORE),
    (_AFTER_F4, 0x80, 0x8F, _TWO_MORE),
)


@cache
def utf8_table() -> tuple[np.ndarray, np.ndarray]:
    """(transitions, accepting) of all well-formed UTF-8 strings; do not modify the arrays."""
    transitions = np.full((8, 256), -1, dtype=np.int32)
    for state, first, last, target in _UTF8_EDGES:
        transitions[state, first : last + 1] = target
    accepting = np.zeros(8, dtype=np.bool_)
    accepting[_BETWEEN] = True
    transitions.flags.writeable = False
    accepting.flags.writeable = False
    return transitions, accepting


def count_code_points(
    transitions: np.ndarray,
    accepting: np.ndarray,
    min_length: int,
    max_length: int | None,
    max_states: int,
    on_budget: Callable[[int], str],
) -> tuple[np.ndarray, np.ndarray]:
    """The minimal DFA of a minimal well-formed-UTF-8 DFA's language, cut to [min, max] code points.

    States are (count, state) pairs, one level per count holding only the states reachable
    with that many characters started (a character counts at its first byte); without
    ``max_length`` the level ``min_length`` loops on itself. Raises CompileBudgetError
    (``on_budget(n)``) past ``max_states`` pairs. The levels are then merged from the top
    down (see :func:`_merge_levels`), so no general minimization is needed.
    """
    top = max_length if max_length is not None else min_length
    levels = [_closure(transitions, np.array([0]))]
    total = len(levels[0])
    while len(levels) <= top:
        following = _closure(transitions, _targets(transitions, levels[-1], ~CONTINUATION))
        if len(following) == 0:
            break
        levels.append(following)
        total += len(following)
        if total > max_states:
            raise CompileBudgetError(on_budget(total))
    saturating = max_length is None and len(levels) == top + 1
    if saturating:
        levels[-1] = _saturate(transitions, levels[-1])
    return _merge_levels(transitions, accepting, levels, min_length, saturating)


def _merge_levels(
    transitions: np.ndarray,
    accepting: np.ndarray,
    levels: list[np.ndarray],
    min_length: int,
    saturating: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Build the (count, state) automaton with equal states merged, from the last level down.

    Without the saturating loop the automaton is acyclic, and giving each state the id
    of its (accepting, successor ids) row, successors first, merges exactly the
    equivalent states (Revuz's algorithm). Within a level successors are the states
    needing one continuation byte fewer, so a level is done in order of pending bytes.
    A saturating last level is the input automaton restricted to a closed set of its
    states: already minimal, it gets distinct ids first. Rows dead and non-accepting
    get -1, which trims the automaton.
    """
    signature = np.vstack([transitions, CONTINUATION[None, :]])
    _, representative, byte_class = np.unique(signature, axis=1, return_index=True, return_inverse=True)
    by_class = transitions[:, representative]
    continuation = CONTINUATION[representative][None, :]
    pending = _pending_bytes(transitions)
    n = len(transitions)
    rows: list[np.ndarray] = []
    row_accepting: list[bool] = []
    interned: dict[bytes, int] = {}
    above = np.full(n + 1, -1, dtype=np.int64)  # ids in the level above; index -1 is "dead"
    for count in reversed(range(len(levels))):
        level = levels[count]
        here = np.full(n + 1, -1, dtype=np.int64)
        is_final = (accepting & (count >= min_length)).tolist()
        if saturating and count == len(levels) - 1:
            here[level] = len(rows) + np.arange(len(level))
            for state, row in zip(level.tolist(), here[by_class[level]], strict=True):
                interned[bytes([is_final[state]]) + row.tobytes()] = len(rows)
                rows.append(row)
                row_accepting.append(bool(is_final[state]))
        else:
            for group in (level[pending[level] == k] for k in range(4)):
                targets = by_class[group]
                successors = np.where(continuation, here[targets], above[targets])
                for state, row in zip(group.tolist(), successors, strict=True):
                    if not is_final[state] and (row < 0).all():
                        continue
                    key = bytes([is_final[state]]) + row.tobytes()
                    if key not in interned:
                        interned[key] = len(rows)
                        rows.append(row)
                        row_accepting.append(bool(is_final[state]))
                    here[state] = interned[key]
        above = here
    start = above[0]
    if start < 0:
        return np.zeros((0, 256), dtype=np.int32), np.zeros(0, dtype=np.bool_)
    order = np.arange(len(rows))
    order[[0, start]] = order[[start, 0]]  # the start state must be state 0
    table = np.array(rows, dtype=np.int64)[order][:, np.ravel(byte_class)]
    return np.where(table >= 0, order[table], -1).astype(np.int32), np.array(row_accepting)[order]


def _pending_bytes(transitions: np.ndarray) -> np.ndarray:
    """For each state of a well-formed-UTF-8 DFA, how many continuation bytes it still needs."""
    after_byte = np.select(
        [np.arange(256) < 0x80, np.arange(256) < 0xC0, np.arange(256) < 0xE0, np.arange(256) < 0xF0],
        [0, -1, 1, 2],
        3,
    )
    pending = np.full(len(transitions), -1, dtype=np.int64)
    pending[0] = 0
    frontier = np.array([0])
    while frontier.size:
        targets = transitions[frontier]
        values = np.where(CONTINUATION[None, :], pending[frontier][:, None] - 1, after_byte[None, :])
        new = (targets >= 0) & (pending[targets] < 0)
        pending[targets[new]] = values[new]
        frontier = np.unique(targets[new])
    return pending


def _targets(transitions: np.ndarray, states: np.ndarray, columns: np.ndarray) -> np.ndarray:
    targets = transitions[states][:, columns]
    return np.unique(targets[targets >= 0])


def _closure(transitions: np.ndarray, states: np.ndarray) -> np.ndarray:
    """``states`` and everything reachable from them by continuation bytes, sorted."""
    while True:
        grown = np.union1d(states, _targets(transitions, states, CONTINUATION))
        if len(grown) == len(states):
            return grown
        states = grown


def _saturate(transitions: np.ndarray, states: np.ndarray) -> np.ndarray:
    """The smallest superset of ``states`` closed under all transitions."""
    while True:
        grown = np.union1d(states, _closure(transitions, _targets(transitions, states, ~CONTINUATION)))
        if len(grown) == len(states):
            return grown
        states = grown
