"""Continue a token mask below the lexeme boundaries that fall inside tokens, in Numba.

A plain trie walk (``trie_walk``) follows one lexer state from the root. Below a node where
a lexeme may end, the token's bytes may also start a new lexeme, and what may start there
depends on the parser. This kernel walks those subtrees depth-first carrying, per depth, the
set of *threads* ``(chart, lexer state)`` alive there, exactly as the matcher reads bytes:
each byte steps every thread; the charts after every lexeme ending at that byte are merged
into one chart, which starts one fresh thread.

The parser never runs in Numba. Its answers come from lazily filled integer tables: chart x
class of accepted terminals (of the lexer state where a lexeme ends) -> chart after that lexeme
(all its terminals, merged), pairs of
charts -> merged chart, chart -> fresh lexer state. When the kernel meets an entry not yet
filled it stops, saying which one in ``need``; Python fills it and the kernel resumes where
it stopped (its whole position lives in arrays the caller keeps). The tables persist, so a
grammar's later masks stop less and less often.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from constrain.errors import ConstrainError

EMPTY = -1  # key of a free slot in an IntTable
UNKNOWN = -2  # start-state entry not filled yet
DEAD = -1  # no chart: every lexeme ending here was rejected by the parser

DONE, NEED_END, NEED_MERGE, NEED_START, NEED_ROOM = 0, 1, 2, 3, 4
MEMO_SIZE = 64  # direct-mapped memo of recent table lookups, per kernel call
_MIX_1 = np.int64(-4658895280553007687)  # splitmix64's multipliers as signed 64-bit integers
_MIX_2 = np.int64(-7723592293110705685)


@njit(cache=True, nogil=True)
def _slot(keys, key):
    """The slot holding ``key`` in an open-addressing table, or the free slot where it belongs."""
    mask = keys.shape[0] - 1
    h = (key ^ (key >> 30)) * _MIX_1  # every key bit must reach the low bits the mask keeps
    h = (h ^ (h >> 27)) * _MIX_2
    i = (h ^ (h >> 31)) & mask
    while keys[i] != key and keys[i] != EMPTY:
        i = (i + 1) & mask
    return i


@njit(cache=True, nogil=True)
def _put(keys, values, key, value):
    """Store ``key -> value``; True if the key is new."""
    i = _slot(keys, key)
    is_new = keys[i] == EMPTY
    keys[i] = key
    values[i] = value
    return is_new


@njit(cache=True, nogil=True)
def _rehash(old_keys, old_values, keys, values):
    for i in range(old_keys.shape[0]):
        if old_keys[i] != EMPTY:
            _put(keys, values, old_keys[i], old_values[i])


class IntTable:
    """A growing int64 -> int32 hash table (linear probing) that Numba kernels read."""

    def __init__(self, capacity: int = 1024):
        self.keys = np.full(capacity, EMPTY, dtype=np.int64)
        self.values = np.zeros(capacity, dtype=np.int32)
        self.size = 0

    def put(self, key: int, value: int) -> None:
        if key < 0:
            raise ConstrainError(f"IntTable keys must be non-negative, got {key}")
        if 2 * (self.size + 1) > len(self.keys):
            keys = np.full(2 * len(self.keys), EMPTY, dtype=np.int64)
            values = np.zeros(2 * len(self.keys), dtype=np.int32)
            _rehash(self.keys, self.values, keys, values)
            self.keys, self.values = keys, values
        self.size += bool(_put(self.keys, self.values, np.int64(key), np.int32(value)))


def pair_key(high: int, low: int) -> int:
    """The table key of a pair of non-negative ids below 2**31."""
    return (high << 32) | low


@njit(cache=True, nogil=True)
def _add_thread(charts, states, depth, size, chart, state):
    """Add a thread to the set at ``depth``; the new size, or -1 when the set has no room left."""
    for k in range(size):
        if charts[depth, k] == chart and states[depth, k] == state:
            return size
    if size == charts.shape[1]:
        return -1
    charts[depth, size] = chart
    states[depth, size] = state
    return size + 1


@njit(cache=True, nogil=True)
def _continue(
    node_byte, node_depth, subtree_end, token_start, token_ids, parent,
    transitions, terminal_class, end_keys, end_values, merge_keys, merge_values, start_of_chart,
    tops, top_bounds, top_next, level_size, level_own, level_chart, level_state, path, ends,
    cursor, mask, need,
):  # fmt: skip
    node = cursor[0]
    memo_keys = np.full(2 * MEMO_SIZE, EMPTY, dtype=np.int64)  # ends, then merges
    memo_values = np.empty(2 * MEMO_SIZE, dtype=np.int32)
    while node < subtree_end[0]:
        up = node_depth[node] - 1
        if level_size[up] == level_own[up]:  # only the state's own threads above: jump to a boundary
            bound = subtree_end[parent[node]]
            top = _next_top(tops, top_bounds, top_next, node)
            if top >= bound:
                node = bound
                continue
            node = top
            n_path = 0
            above = parent[node]
            while node_depth[above] > up:
                path[n_path] = above
                n_path += 1
                above = parent[above]
            for j in range(n_path - 1, -1, -1):  # read the own threads down to the boundary
                depth = node_depth[path[j]]
                size = 0
                for t in range(level_size[depth - 1]):
                    state = transitions[level_state[depth - 1, t], node_byte[path[j]]]
                    if state >= 0:
                        size = _add_thread(
                            level_chart, level_state, depth, size, level_chart[depth - 1, t], state
                        )
                        if size < 0:
                            return NEED_ROOM
                level_size[depth] = size
                level_own[depth] = size
            up = node_depth[node] - 1
        depth = up + 1
        byte = node_byte[node]
        inner = subtree_end[node] > node + 1  # a lexeme ending here matters only if the trie goes on
        size = 0
        n_ends = 0
        for t in range(level_size[up]):
            if t == level_own[up]:
                level_own[depth] = size
            chart = level_chart[up, t]
            state = transitions[level_state[up, t], byte]
            if state < 0:
                continue
            size = _add_thread(level_chart, level_state, depth, size, chart, state)
            if size < 0:
                return NEED_ROOM
            terminals = terminal_class[state]
            if inner and terminals > 0:
                key = (np.int64(chart) << 32) | terminals
                memo = (chart * 31 + terminals) & (MEMO_SIZE - 1)
                if memo_keys[memo] != key:  # the same few lexemes end node after node: memoize
                    slot = _slot(end_keys, key)
                    if end_keys[slot] == EMPTY:
                        cursor[0] = node
                        need[0], need[1] = chart, terminals
                        return NEED_END
                    memo_keys[memo], memo_values[memo] = key, end_values[slot]
                if memo_values[memo] != DEAD:
                    n_ends = _add_sorted(ends, n_ends, memo_values[memo])
        if level_size[up] == level_own[up]:
            level_own[depth] = size
        level_size[depth] = size
        if size == 0:
            node = subtree_end[node]
            continue
        for k in range(token_start[node], token_start[node + 1]):
            token = token_ids[k]
            mask[token >> 5] |= np.uint32(1) << np.uint32(token & 31)
        if n_ends > 0:
            merged = ends[0]
            for k in range(1, n_ends):
                key = (np.int64(merged) << 32) | ends[k]
                memo = MEMO_SIZE + ((merged * 31 + ends[k]) & (MEMO_SIZE - 1))
                if memo_keys[memo] != key:
                    slot = _slot(merge_keys, key)
                    if merge_keys[slot] == EMPTY:
                        cursor[0] = node
                        need[0], need[1] = merged, ends[k]
                        return NEED_MERGE
                    memo_keys[memo], memo_values[memo] = key, merge_values[slot]
                merged = memo_values[memo]
            if merged >= start_of_chart.shape[0] or start_of_chart[merged] == UNKNOWN:
                cursor[0] = node
                need[0] = merged
                return NEED_START
            size = _add_thread(level_chart, level_state, depth, size, merged, start_of_chart[merged])
            if size < 0:
                return NEED_ROOM
            level_size[depth] = size
        node += 1
    return DONE


@njit(cache=True, nogil=True)
def _next_top(tops, bounds, next_index, node):
    """The first boundary node at or after ``node`` in any of the sorted lists (or past the end)."""
    best = np.int64(1) << 40
    for list_index in range(next_index.shape[0]):
        k = next_index[list_index]
        while k < bounds[list_index + 1] and tops[k] < node:
            k += 1
        next_index[list_index] = k
        if k < bounds[list_index + 1] and tops[k] < best:
            best = tops[k]
    return best


@njit(cache=True, nogil=True)
def _add_sorted(values, size, value):
    """Insert ``value`` into the sorted distinct ``values[:size]``; the new size."""
    k = size
    while k > 0 and values[k - 1] > value:
        k -= 1
    if k > 0 and values[k - 1] == value:
        return size
    for j in range(size, k, -1):
        values[j] = values[j - 1]
    values[k] = value
    return size + 1


class BoundaryWalk:
    """One mask's walk below boundary nodes: the arrays that hold its position between stops.

    Per trie depth it keeps the threads alive there: first the state's own threads (whose
    tokens the plain walks already allowed), then those started at a boundary inside the
    token. Only where the latter exist does it walk node by node; elsewhere it jumps to
    the next boundary node of the own threads.

    ``run`` returns a status; on ``NEED_*`` the caller fills the named table entry (read
    ``need``) and calls ``run`` again with the same arguments, and on ``NEED_ROOM`` it starts
    a new ``BoundaryWalk`` with more room per depth (the mask bits set so far stay valid).
    """

    def __init__(
        self,
        trie,
        parent: np.ndarray,
        room: int,
        threads: list[tuple[int, int]],
        tops: list[np.ndarray],
        max_depth: int,
    ):
        """``max_depth`` is the trie's greatest node depth (computed once by the caller: a scan of
        the whole trie costs more than many walks)."""
        if room < len(threads):
            raise ConstrainError(f"room {room} is below the {len(threads)} threads of the state")
        levels = max_depth + 2
        self._trie = trie
        self._parent = parent
        self._tops = np.concatenate(tops).astype(np.int32, copy=False) if tops else np.zeros(0, np.int32)
        self._top_bounds = np.cumsum([0, *(len(nodes) for nodes in tops)], dtype=np.int64)
        self._top_next = self._top_bounds[:-1].copy()
        self._level_size = np.zeros(levels, dtype=np.int32)
        self._level_own = np.zeros(levels, dtype=np.int32)
        self._level_chart = np.empty((levels, room), dtype=np.int32)
        self._level_state = np.empty((levels, room), dtype=np.int32)
        for chart, state in dict.fromkeys(threads):
            self._level_chart[0, self._level_size[0]] = chart
            self._level_state[0, self._level_size[0]] = state
            self._level_size[0] += 1
        self._level_own[0] = self._level_size[0]
        self._path = np.empty(levels, dtype=np.int32)
        self._ends = np.empty(room, dtype=np.int32)
        self._cursor = np.ones(1, dtype=np.int64)  # the node to go on from
        self.need = np.zeros(2, dtype=np.int64)
        self._max_state = max(state for _, state in threads)

    def run(
        self,
        transitions: np.ndarray,
        terminal_class: np.ndarray,
        ends: IntTable,
        merges: IntTable,
        start_of_chart: np.ndarray,
        mask: np.ndarray,
    ) -> int:
        """Walk on until done or until a table entry is missing; the status says which."""
        if mask.dtype != np.uint32 or mask.ndim != 1 or not mask.flags.c_contiguous:
            raise ConstrainError("mask must be a contiguous 1-D uint32 array")
        if transitions.dtype != np.int32 or transitions.ndim != 2 or transitions.shape[1] != 256:
            raise ConstrainError("transitions must be an int32 array of shape (n_states, 256)")
        if terminal_class.shape[0] != transitions.shape[0] or terminal_class.dtype != np.int32:
            raise ConstrainError("terminal classes must be int32, one per lexer state")
        if start_of_chart.dtype != np.int32:
            raise ConstrainError("start states must be int32")
        if self._max_state >= transitions.shape[0]:
            raise ConstrainError("a thread's lexer state is not in the transition table")
        trie = self._trie
        return _continue(
            trie.node_byte, trie.node_depth, trie.subtree_end, trie.token_start, trie.token_ids,
            self._parent, transitions, terminal_class, ends.keys, ends.values, merges.keys, merges.values,
            start_of_chart, self._tops, self._top_bounds, self._top_next, self._level_size,
            self._level_own, self._level_chart, self._level_state, self._path, self._ends,
            self._cursor, mask, self.need,
        )  # fmt: skip


@njit(cache=True, nogil=True)
def _parents(node_depth):
    parent = np.empty(node_depth.shape[0], dtype=np.int32)
    last_at_depth = np.zeros(node_depth.max() + 2, dtype=np.int32)
    parent[0] = -1
    for node in range(1, node_depth.shape[0]):
        parent[node] = last_at_depth[node_depth[node] - 1]
        last_at_depth[node_depth[node]] = node
    return parent


def trie_parents(trie) -> np.ndarray:
    """Each node's parent (the root's is -1), from the preorder depths."""
    return _parents(trie.node_depth)


@njit(cache=True, nogil=True)
def _child_bytes(node_byte, parent):
    bits = np.zeros((node_byte.shape[0], 4), dtype=np.uint64)
    for node in range(1, node_byte.shape[0]):
        byte = node_byte[node]
        bits[parent[node], byte >> 6] |= np.uint64(1) << np.uint64(byte & 63)
    return bits


def trie_child_bytes(trie, parent: np.ndarray) -> np.ndarray:
    """Per node, the 256-bit set (4 uint64 words) of the bytes of its children."""
    return _child_bytes(trie.node_byte, parent)


@njit(cache=True, nogil=True)
def _readable_below(nodes, child_bytes, row):
    alive = np.zeros(4, dtype=np.uint64)
    for byte in range(256):
        if row[byte] >= 0:
            alive[byte >> 6] |= np.uint64(1) << np.uint64(byte & 63)
    keep = np.empty(nodes.shape[0], dtype=np.int32)
    n_kept = 0
    for k in range(nodes.shape[0]):
        bits = child_bytes[nodes[k]]
        if (bits[0] & alive[0]) | (bits[1] & alive[1]) | (bits[2] & alive[2]) | (bits[3] & alive[3]):
            keep[n_kept] = nodes[k]
            n_kept += 1
    return keep[:n_kept].copy()


def readable_below(
    nodes: np.ndarray, child_bytes: np.ndarray, transitions: np.ndarray, state: int
) -> np.ndarray:
    """The ``nodes`` with a child whose byte a lexeme starting in ``state`` can read.

    At any other boundary node a fresh lexeme dies at once, so nothing new can happen below
    it: the boundary kernel need not stop there.
    """
    if not 0 <= state < transitions.shape[0] or nodes.dtype != np.int32:
        raise ConstrainError(f"lexer state {state} or boundary nodes out of range")
    return _readable_below(nodes, child_bytes, transitions[state])
