"""Build the lexer's product automaton in Numba: interned int lists and breadth-first expansion.

A product state is the sorted list of the terminal DFA states running in lockstep, each
named by a global *component* id (the terminal's offset plus its state). Building a large
product (the key automaton of an object with hundreds of properties has thousands of
states) one state at a time in Python cost tens of microseconds a state; here it costs
about one. States are interned in an :class:`IntListSet`, so equal lists get one id, and
they are expanded in id order: every state below ``progress`` has its transition row, so
a build that runs out of room resumes exactly where it stopped once the caller has grown
the arrays.

A list may start with the marker ``FRESH`` (a negative id), which no transition produces:
the fresh state that starts a lexeme is then distinct from the state with the same
components reached by reading bytes, while stepping exactly like it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from constrain.errors import ConstrainError

DONE, NEED_ROOM = 0, 1
EMPTY_SLOT = -1
FRESH = -1  # marker that may open a state's list; never a component
_FNV_OFFSET = np.int64(-3750763034362895579)
_FNV_PRIME = np.int64(1099511628211)
_MIX = np.int64(-4658895280553007687)


@njit(cache=True, nogil=True)
def _hash(items, n):
    h = _FNV_OFFSET
    for k in range(n):
        h = (h ^ np.int64(items[k])) * _FNV_PRIME
    return h


@njit(cache=True, nogil=True)
def _home_slot(h, mask):
    """Where probing for hash ``h`` starts: its well-mixed high bits, since list hashes differ
    mostly there."""
    return ((h ^ (h >> 29)) * _MIX >> 32) & mask


@njit(cache=True, nogil=True)
def _find_slot(pool, starts, hashes, slots, items, n, h):
    """The slot holding the list ``items[:n]`` (hash ``h``), or the empty slot where it belongs."""
    mask = slots.shape[0] - 1
    i = _home_slot(h, mask)
    while slots[i] != EMPTY_SLOT:
        found = slots[i]
        if hashes[found] == h and starts[found + 1] - starts[found] == n:
            base = starts[found]
            same = True
            for k in range(n):
                if pool[base + k] != items[k]:
                    same = False
                    break
            if same:
                return i
        i = (i + 1) & mask
    return i


@njit(cache=True, nogil=True)
def _intern(pool, starts, hashes, slots, counts, items, n):
    """The id of ``items[:n]``, added if new; -1 when the set has no room for it."""
    h = _hash(items, n)
    i = _find_slot(pool, starts, hashes, slots, items, n, h)
    if slots[i] != EMPTY_SLOT:
        return slots[i]
    size, used = counts[0], counts[1]
    if size + 2 > starts.shape[0] or used + n > pool.shape[0] or 2 * (size + 1) > slots.shape[0]:
        return -1
    pool[used : used + n] = items[:n]
    starts[size + 1] = used + n
    hashes[size] = h
    slots[i] = size
    counts[0], counts[1] = size + 1, used + n
    return size


@njit(cache=True, nogil=True)
def _lookup(pool, starts, hashes, slots, items, n):
    i = _find_slot(pool, starts, hashes, slots, items, n, _hash(items, n))
    return slots[i]


@njit(cache=True, nogil=True)
def _rehash(starts, hashes, size, slots):
    mask = slots.shape[0] - 1
    for found in range(size):
        i = _home_slot(hashes[found], mask)
        while slots[i] != EMPTY_SLOT:
            i = (i + 1) & mask
        slots[i] = found


class IntListSet:
    """Interned lists of non-negative ints (optionally opened by ``FRESH``), with growing arrays.

    List ``i`` is ``pool[starts[i]:starts[i + 1]]``; ``slots`` is an open-addressing table
    of list ids keyed by content. Kernels add lists in place and report a full set by
    returning -1; :meth:`grow` then makes room.
    """

    def __init__(self, capacity: int = 64):
        self.pool = np.empty(4 * capacity, dtype=np.int32)
        self.starts = np.zeros(capacity + 1, dtype=np.int64)
        self.hashes = np.empty(capacity, dtype=np.int64)
        self.slots = np.full(2 * capacity, EMPTY_SLOT, dtype=np.int32)
        self.counts = np.zeros(2, dtype=np.int64)  # lists, pool entries used

    def __len__(self) -> int:
        return int(self.counts[0])

    @property
    def capacity(self) -> int:
        return len(self.hashes)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.pool[self.starts[index] : self.starts[index + 1]]

    def intern(self, items: list[int]) -> int:
        array = np.asarray(items, dtype=np.int32)
        while True:
            found = _intern(self.pool, self.starts, self.hashes, self.slots, self.counts, array, len(array))
            if found >= 0:
                return int(found)
            self.grow(len(array))

    def find(self, items: list[int]) -> int:
        """The id of the list, or -1 if it was never interned."""
        array = np.asarray(items, dtype=np.int32)
        return int(_lookup(self.pool, self.starts, self.hashes, self.slots, array, len(array)))

    def grow(self, room: int = 0) -> None:
        """Double the room for lists (and for their entries, to fit at least ``room`` more)."""
        capacity = 2 * self.capacity
        self.starts = _resized(self.starts, capacity + 1)
        self.hashes = _resized(self.hashes, capacity)
        used = int(self.counts[1])
        self.pool = _resized(self.pool, max(2 * len(self.pool), used + room + 4 * capacity))
        self.slots = np.full(2 * capacity, EMPTY_SLOT, dtype=np.int32)
        _rehash(self.starts, self.hashes, len(self), self.slots)


def _resized(array: np.ndarray, length: int) -> np.ndarray:
    grown = np.empty(length, dtype=array.dtype)
    grown[: len(array)] = array
    return grown


@njit(cache=True, nogil=True)
def _classify(
    pool, starts, first, last, component_terminal, component_accepting,
    class_pool, class_starts, class_hashes, class_slots, class_counts, accepting, terminal_class, scratch,
):  # fmt: skip
    """Give states ``first..last-1`` their accepting flag and class (list of accepting
    terminals); the first state left unclassified (``last`` when done)."""
    for state in range(first, last):
        n = 0
        for k in range(starts[state], starts[state + 1]):
            component = pool[k]
            if component >= 0 and component_accepting[component]:
                scratch[n] = component_terminal[component]
                n += 1
        found = _intern(class_pool, class_starts, class_hashes, class_slots, class_counts, scratch, n)
        if found < 0:
            return state
        terminal_class[state] = found
        accepting[state] = n > 0
    return last


@njit(cache=True, nogil=True)
def _expand(
    pool, starts, hashes, slots, counts, component_next, transitions, progress, items, previous,
):  # fmt: skip
    """Fill the transition rows of every state from ``progress[0]`` on, interning new targets,
    until all rows are filled (DONE) or a set or table is full (NEED_ROOM)."""
    state = progress[0]
    while state < counts[0]:
        n_previous = -1
        previous_target = -1
        for byte in range(256):
            n = 0
            for k in range(starts[state], starts[state + 1]):
                component = pool[k]
                if component >= 0:
                    after = component_next[component, byte]
                    if after >= 0:
                        items[n] = after
                        n += 1
            if n == 0:
                transitions[state, byte] = -1
                continue
            same = n == n_previous  # neighbouring bytes often lead to the same list: skip the lookup
            if same:
                for k in range(n):
                    if items[k] != previous[k]:
                        same = False
                        break
            if not same:
                previous_target = _intern(pool, starts, hashes, slots, counts, items, n)
                if previous_target < 0 or previous_target >= transitions.shape[0]:
                    progress[0] = state
                    return NEED_ROOM
                previous[:n] = items[:n]
                n_previous = n
            transitions[state, byte] = previous_target
        state += 1
    progress[0] = state
    return DONE


class ProductBuilder:
    """The lexer's product states in arrays the kernels grow; see the module doc.

    Terminal DFAs join as components only when a start state first needs them (a schema
    has hundreds of terminals, most never expected together): ``add_terminal`` appends a
    DFA's table with its targets renamed to component ids, and records per component its
    terminal and whether it accepts.
    """

    def __init__(self, n_terminals: int):
        self._component_next = np.empty((16, 256), dtype=np.int32)
        self._component_terminal = np.empty(16, dtype=np.int32)
        self._component_accepting = np.empty(16, dtype=np.bool_)
        self._n_components = 0
        self.states = IntListSet()
        self.classes = IntListSet()
        self.classes.intern([])  # class 0: accepts nothing
        self.transitions = np.full((self.states.capacity, 256), -1, dtype=np.int32)
        self.accepting = np.zeros(self.states.capacity, dtype=np.bool_)
        self.terminal_class = np.zeros(self.states.capacity, dtype=np.int32)
        self._progress = np.zeros(1, dtype=np.int64)  # states with their row filled
        self._classified = 0
        self._n_terminals = n_terminals
        self._items = np.empty(n_terminals + 2, dtype=np.int32)
        self._previous = np.empty(n_terminals + 2, dtype=np.int32)

    @property
    def component_terminal(self) -> np.ndarray:
        return self._component_terminal[: self._n_components]

    def add_terminal(self, terminal: int, transitions: np.ndarray, accepting: np.ndarray) -> int:
        """Make a terminal's DFA (int32 ``(n, 256)``, -1 dead) available; its offset: the
        component id of its state ``q`` is the offset plus ``q``."""
        if transitions.dtype != np.int32 or transitions.ndim != 2 or transitions.shape[1] != 256:
            raise ConstrainError("terminal transitions must be an int32 array of shape (n, 256)")
        if not 0 <= terminal < self._n_terminals:
            raise ConstrainError(f"terminal {terminal} is out of range")
        offset, end = self._n_components, self._n_components + len(transitions)
        if end > len(self._component_terminal):  # grow by doubling: terminals join one at a time
            capacity = max(2 * len(self._component_terminal), end)
            grown = np.empty((capacity, 256), dtype=np.int32)
            grown[:offset] = self._component_next[:offset]
            self._component_next = grown
            self._component_terminal = _resized(self._component_terminal, capacity)
            self._component_accepting = _resized(self._component_accepting, capacity)
        np.add(transitions, np.int32(offset), out=self._component_next[offset:end])
        self._component_next[offset:end][transitions < 0] = -1
        self._component_terminal[offset:end] = terminal
        self._component_accepting[offset:end] = accepting
        self._n_components = end
        return offset

    def __len__(self) -> int:
        return len(self.states)

    def build(self, items: list[int]) -> int:
        """The state of the component list ``items`` (sorted; ``FRESH`` may open it), with every
        state reachable from it built."""
        state = self.states.intern(items)
        self._sync_tables()
        while True:
            self._classify()
            status = _expand(
                self.states.pool, self.states.starts, self.states.hashes, self.states.slots,
                self.states.counts, self._component_next, self.transitions, self._progress,
                self._items, self._previous,
            )  # fmt: skip
            if status == DONE:
                self._classify()
                return state
            self.states.grow(len(self._items))
            self._sync_tables()

    def _classify(self) -> None:
        while self._classified < len(self.states):
            classes = self.classes
            self._classified = _classify(
                self.states.pool, self.states.starts, self._classified, len(self.states),
                self._component_terminal, self._component_accepting, classes.pool, classes.starts,
                classes.hashes, classes.slots, classes.counts, self.accepting, self.terminal_class,
                self._items,
            )  # fmt: skip
            if self._classified < len(self.states):
                classes.grow(len(self._items))

    def _sync_tables(self) -> None:
        """Give the per-state tables as many rows as the state set has room for."""
        capacity = self.states.capacity
        if len(self.transitions) < capacity:
            transitions = np.full((capacity, 256), -1, dtype=np.int32)
            transitions[: len(self.transitions)] = self.transitions
            self.transitions = transitions
            self.accepting = _resized(self.accepting, capacity)
            self.terminal_class = _resized(self.terminal_class, capacity)
