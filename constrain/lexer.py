"""The lexer: one byte DFA per set of expected terminals, built as a product on demand.

At a lexeme boundary the parser expects some set of terminals (plus the ignored ones).
Running all their DFAs in lockstep is one DFA whose states are tuples of
``(terminal, terminal state)``; it is built eagerly for every reachable state the first
time that set is expected, and all such products share one growing transition table
that the Numba kernels step through. A state accepts the terminals whose component
accepts; since every terminal DFA is trimmed, any state that exists can still reach
an accepting one, so "alive" means "viable".
"""

from __future__ import annotations

import numpy as np

from constrain.byte_dfa import ByteDFA

DEAD = -1

ProductKey = tuple[tuple[int, int], ...]


class Lexer:
    """Product states of terminal DFAs, in growing tables shared by every terminal set."""

    def __init__(self, dfas: tuple[ByteDFA, ...], ignore: frozenset[int]):
        self._dfas = dfas
        self._ignore = ignore
        self._ids: dict[ProductKey | tuple[str, frozenset[int]], int] = {}
        self._starts: dict[frozenset[int], int] = {}
        self._transitions = np.full((64, 256), DEAD, dtype=np.int32)
        self._accepting = np.zeros(64, dtype=np.bool_)
        self._terminal_class = np.zeros(64, dtype=np.int32)
        self._class_ids: dict[tuple[int, ...], int] = {(): 0}
        self.class_terminals: list[tuple[int, ...]] = [()]  # class id -> the terminals it accepts
        self._components: list[ProductKey] = []
        self._shapes: dict[int, tuple[bytes, list[int]]] = {}
        self.accepted: list[tuple[int, ...]] = []
        self.is_fresh: list[bool] = []

    @property
    def transitions(self) -> np.ndarray:
        return self._transitions[: len(self.accepted)]

    @property
    def accepting(self) -> np.ndarray:
        return self._accepting[: len(self.accepted)]

    @property
    def terminal_classes(self) -> np.ndarray:
        """Per state, the id of the set of terminals it accepts (0: none).

        What ends when a lexeme ends depends only on this set, so the boundary kernel's
        tables are keyed by it: the many states of one terminal (a name spelled to avoid
        keywords has hundreds) share their entries.
        """
        return self._terminal_class[: len(self.accepted)]

    def terminal_class(self, state: int) -> int:
        return int(self._terminal_class[state])

    def start_state(self, expected: frozenset[int]) -> int:
        """The fresh state that starts a lexeme of any expected (or ignored) terminal."""
        state = self._starts.get(expected)
        if state is None:
            terminals = sorted(expected | self._ignore)
            components = tuple((t, 0) for t in terminals if not self._dfas[t].is_empty)
            state = self._build(("fresh", frozenset(terminals)), components)
            self._starts[expected] = state
        return state

    def step(self, state: int, byte: int) -> int:
        return int(self._transitions[state, byte])

    def shape(self, state: int) -> tuple[bytes, list[int]]:
        """A canonical signature of the automaton reachable from ``state``, and its states in
        canonical order.

        Two states with equal signatures, in this lexer or another grammar's, accept the same
        byte strings at the same places, so a trie walk from one serves the other: compiled
        JSON Schemas share their string and number terminals, so their walks are shared.
        """
        found = self._shapes.get(state)
        if found is None:
            order, index = [state], {state: 0}
            for current in order:
                for target in dict.fromkeys(
                    self._transitions[current][self._transitions[current] >= 0].tolist()
                ):
                    if target not in index:
                        index[target] = len(order)
                        order.append(target)
            canonical = np.full(len(self.accepted), DEAD, dtype=np.int32)
            canonical[order] = np.arange(len(order), dtype=np.int32)
            rows = self._transitions[order]
            table = np.where(rows >= 0, canonical[np.maximum(rows, 0)], DEAD)
            found = (table.tobytes() + self._accepting[order].tobytes(), order)
            self._shapes[state] = found
        return found

    def _build(self, start_key: tuple[str, frozenset[int]], start_components: ProductKey) -> int:
        """Create the start state and every state reachable from it; return the start id."""
        start = self._new_state(start_key, start_components, fresh=True)
        queue = [start]
        while queue:
            state = queue.pop()
            components = self._components[state]
            if not components:
                continue
            columns, inverse = _distinct_columns(
                np.stack([self._dfas[t].transitions[q] for t, q in components])
            )
            targets = np.empty(len(columns), dtype=np.int32)
            for j, column in enumerate(columns):
                key = tuple((t, q) for (t, _), q in zip(components, column, strict=True) if q >= 0)
                if not key:
                    targets[j] = DEAD
                    continue
                target = self._ids.get(key)
                if target is None:
                    target = self._new_state(key, key, fresh=False)
                    queue.append(target)
                targets[j] = target
            self._transitions[state] = targets[inverse]
        return start

    def _new_state(self, key: object, components: ProductKey, *, fresh: bool) -> int:
        state = len(self.accepted)
        self._components.append(components)
        if state == len(self._accepting):
            self._grow()
        self._ids[key] = state
        accepted = tuple(t for t, q in components if self._dfas[t].accepting[q])
        self.accepted.append(accepted)
        self.is_fresh.append(fresh)
        self._accepting[state] = bool(accepted)
        if accepted not in self._class_ids:
            self._class_ids[accepted] = len(self.class_terminals)
            self.class_terminals.append(accepted)
        self._terminal_class[state] = self._class_ids[accepted]
        return state

    def _grow(self) -> None:
        size = 2 * len(self._accepting)
        transitions = np.full((size, 256), DEAD, dtype=np.int32)
        transitions[: len(self._transitions)] = self._transitions
        accepting = np.zeros(size, dtype=np.bool_)
        accepting[: len(self._accepting)] = self._accepting
        terminal_class = np.zeros(size, dtype=np.int32)
        terminal_class[: len(self._terminal_class)] = self._terminal_class
        self._transitions, self._accepting, self._terminal_class = transitions, accepting, terminal_class


def _distinct_columns(rows: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
    """The distinct columns of a (k, 256) table, and for each byte the index of its column.

    Bytes that lead to the same tuple of component states lead to the same product state;
    grouping them first means one key per distinct target instead of one per byte.
    """
    columns = np.ascontiguousarray(rows.T)
    keys = columns.view(np.dtype((np.void, columns.dtype.itemsize * columns.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return columns[first].tolist(), inverse.reshape(-1)
