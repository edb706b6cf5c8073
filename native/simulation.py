"""Does a lexer state read every string a small automaton reads? A product search in Numba.

A precomputed slice mask (``constrain/slices.py``) may stand in for part of a trie walk
from lexer state ``q`` only if every byte string the slice automaton reads without dying,
``q`` reads without dying too. That holds iff, over every pair of states reachable by
reading the same bytes in both from their starts, each byte the slice can read the lexer
can read as well: a search over at most (slice states x lexer states) pairs, which stops
at the first counterexample (inside a keyword or a key, at once).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from constrain.errors import ConstrainError


@njit(cache=True, nogil=True)
def _reads_all(slice_transitions, transitions, state):
    n_slice = slice_transitions.shape[0]
    seen = {state * n_slice}  # keys: lexer state * n_slice + slice state
    stack_lexer = [state]
    stack_slice = [np.int64(0)]
    while stack_lexer:
        q = stack_lexer.pop()
        p = stack_slice.pop()
        for byte in range(256):
            p_next = slice_transitions[p, byte]
            if p_next < 0:
                continue
            q_next = transitions[q, byte]
            if q_next < 0:
                return False
            key = np.int64(q_next) * n_slice + p_next
            if key not in seen:
                seen.add(key)
                stack_lexer.append(np.int64(q_next))
                stack_slice.append(np.int64(p_next))
    return True


def reads_all(slice_transitions: np.ndarray, transitions: np.ndarray, state: int) -> bool:
    """Whether lexer ``state`` (in ``transitions``) reads every string that the automaton
    ``slice_transitions`` reads from its state 0 (both: int32 ``(n, 256)``, -1 dead)."""
    for table in (slice_transitions, transitions):
        if table.dtype != np.int32 or table.ndim != 2 or table.shape[1] != 256:
            raise ConstrainError("transition tables must be int32 arrays of shape (n, 256)")
    if not 0 <= state < transitions.shape[0] or slice_transitions.shape[0] == 0:
        raise ConstrainError(f"lexer state {state} is out of range, or the slice automaton is empty")
    return bool(_reads_all(slice_transitions, transitions, np.int64(state)))
