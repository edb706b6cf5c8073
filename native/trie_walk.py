"""Walk the token trie while stepping the lexer DFA: the core of every token mask.

The trie is in preorder with ``subtree_end``, so a dead lexer state skips a whole
subtree in one step; this pruning is what keeps a walk far below the vocabulary size
except in states (inside a string, say) where most tokens are allowed. A node where the
lexer accepts and the trie goes deeper is a lexeme boundary inside a token: the walk
records it, and ``boundary_walk`` continues below it with what the parser allows there.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from constrain.errors import ConstrainError


@njit(cache=True, nogil=True)
def _walk(
    node_byte, node_depth, subtree_end, token_start, token_ids,
    transitions, accepting, root_state, mask, event_nodes, event_states, state_stack,
):  # fmt: skip
    n_events = 0
    state_stack[0] = root_state
    node = 1
    end = subtree_end[0]
    while node < end:
        state = transitions[state_stack[node_depth[node] - 1], node_byte[node]]
        if state < 0:
            node = subtree_end[node]
            continue
        state_stack[node_depth[node]] = state
        for k in range(token_start[node], token_start[node + 1]):
            token = token_ids[k]
            mask[token >> 5] |= np.uint32(1) << np.uint32(token & 31)
        if accepting[state] and subtree_end[node] > node + 1:
            event_nodes[n_events] = node
            event_states[n_events] = state
            n_events += 1
        node += 1
    return n_events


class TrieWalker:
    """Walks one vocabulary's token trie; owns the scratch buffers the kernel writes."""

    def __init__(self, trie) -> None:
        self._trie = trie
        self._event_nodes = np.empty(len(trie.node_byte), dtype=np.int32)
        self._event_states = np.empty(len(trie.node_byte), dtype=np.int32)
        self._state_stack = np.empty(int(trie.node_depth.max()) + 2, dtype=np.int32)

    def walk(
        self, transitions: np.ndarray, accepting: np.ndarray, root_state: int, mask: np.ndarray
    ) -> np.ndarray:
        """Set in ``mask`` (uint32 words) every token the lexer can read from ``root_state``
        without dying; return the lexeme-boundary nodes (where it accepts and the trie goes
        deeper), in preorder."""
        if mask.dtype != np.uint32 or mask.ndim != 1 or not mask.flags.c_contiguous:
            raise ConstrainError("mask must be a contiguous 1-D uint32 array")
        if transitions.dtype != np.int32 or transitions.ndim != 2 or transitions.shape[1] != 256:
            raise ConstrainError("transitions must be an int32 array of shape (n_states, 256)")
        if not 0 <= root_state < transitions.shape[0] or accepting.shape[0] != transitions.shape[0]:
            raise ConstrainError(f"root state {root_state} is not a lexer state")
        trie = self._trie
        n = _walk(
            trie.node_byte, trie.node_depth, trie.subtree_end, trie.token_start, trie.token_ids,
            transitions, accepting, np.int32(root_state), mask, self._event_nodes, self._event_states,
            self._state_stack,
        )  # fmt: skip
        return self._event_nodes[:n].copy(), self._event_states[:n].copy()
