"""The lexer: one byte DFA per set of expected terminals, built as a product on demand.

At a lexeme boundary the parser expects some set of terminals (plus the ignored ones).
Running all their DFAs in lockstep is one DFA whose states are lists of *components*
``(terminal, terminal state)``; it is built for every reachable state the first time
that set is expected (in Numba, ``native/lexer_product``), and all such products share
one growing transition table that the Numba kernels step through. A state accepts the
terminals whose component accepts; since every terminal DFA is trimmed, any state that
exists can still reach an accepting one, so "alive" means "viable".
"""

from __future__ import annotations

import hashlib

import numpy as np

from constrain.byte_dfa import ByteDFA
from constrain.native.lexer_product import FRESH, ProductBuilder

DEAD = -1

# A lexer state named relative to another one, the root of a shared trie walk: per component,
# (the position of its terminal in the root's canonical order, the terminal's state).
RelativeName = tuple[tuple[int, int], ...]


class Lexer:
    """Product states of terminal DFAs, in growing tables shared by every terminal set."""

    def __init__(self, dfas: tuple[ByteDFA, ...], ignore: frozenset[int]):
        self._dfas = dfas
        self._ignore = ignore
        self._offsets = np.full(len(dfas), -1, dtype=np.int64)  # terminal -> its first component id
        self._builder = ProductBuilder(len(dfas))
        self._starts: dict[frozenset[int], int] = {}
        self._fingerprints: dict[int, bytes] = {}
        self._signatures: dict[int, tuple[bytes, tuple[int, ...]]] = {}

    @property
    def transitions(self) -> np.ndarray:
        return self._builder.transitions[: len(self._builder)]

    @property
    def accepting(self) -> np.ndarray:
        return self._builder.accepting[: len(self._builder)]

    @property
    def terminal_classes(self) -> np.ndarray:
        """Per state, the id of the set of terminals it accepts (0: none).

        What ends when a lexeme ends depends only on this set, so the boundary kernel's
        tables are keyed by it: the many states of one terminal (a name spelled to avoid
        keywords has hundreds) share their entries.
        """
        return self._builder.terminal_class[: len(self._builder)]

    def terminal_class(self, state: int) -> int:
        return int(self._builder.terminal_class[state])

    def class_terminals(self, terminal_class: int) -> tuple[int, ...]:
        """The terminals a state of this class accepts, in increasing order."""
        return tuple(self._builder.classes[terminal_class].tolist())

    def is_fresh(self, state: int) -> bool:
        """Whether ``state`` starts a lexeme (no byte of it read yet)."""
        members = self._builder.states[state]
        return len(members) > 0 and members[0] == FRESH

    def start_state(self, expected: frozenset[int]) -> int:
        """The fresh state that starts a lexeme of any expected (or ignored) terminal."""
        state = self._starts.get(expected)
        if state is None:
            terminals = sorted(expected | self._ignore)
            components = sorted(self._offset(t) for t in terminals if not self._dfas[t].is_empty)
            state = self._starts[expected] = self._builder.build([FRESH, *components])
        return state

    def step(self, state: int, byte: int) -> int:
        return int(self._builder.transitions[state, byte])

    # --- naming states across grammars, for shared trie walks ------------------------------

    def signature(self, state: int) -> tuple[bytes, tuple[int, ...]]:
        """A canonical signature of the automaton reachable from ``state``, and its terminals
        in canonical order.

        Two states with equal signatures, in this lexer or another grammar's, run equal
        terminal DFAs from equal states, so they accept the same byte strings at the same
        places and a trie walk from one serves the other: compiled JSON Schemas share their
        string and number terminals, so their walks are shared. States reached from the root
        are named by :meth:`relative_name`, which means the same in both.
        """
        found = self._signatures.get(state)
        if found is None:
            keyed = sorted((self._fingerprint(t), q, t) for t, q in self._components(state))
            signature = b"".join(fingerprint + q.to_bytes(4, "little") for fingerprint, q, _ in keyed)
            found = self._signatures[state] = (signature, tuple(t for _, _, t in keyed))
        return found

    def relative_name(self, state: int, order: tuple[int, ...]) -> RelativeName:
        position = {terminal: index for index, terminal in enumerate(order)}
        return tuple(sorted((position[t], q) for t, q in self._components(state)))

    def state_named(self, name: RelativeName, order: tuple[int, ...]) -> int:
        """The state :meth:`relative_name` names relative to a root with terminals ``order``."""
        components = sorted(int(self._offsets[order[index]]) + q for index, q in name)
        state = self._builder.states.find(components)
        if state < 0:
            raise AssertionError(f"lexer state {name} was never built")  # a build reaches every state
        return state

    def _offset(self, terminal: int) -> int:
        if self._offsets[terminal] < 0:
            dfa = self._dfas[terminal]
            self._offsets[terminal] = self._builder.add_terminal(terminal, dfa.transitions, dfa.accepting)
        return int(self._offsets[terminal])

    def _components(self, state: int) -> list[tuple[int, int]]:
        members = self._builder.states[state]
        members = members[members >= 0]
        terminals = self._builder.component_terminal[members]
        return list(zip(terminals.tolist(), (members - self._offsets[terminals]).tolist(), strict=True))

    def _fingerprint(self, terminal: int) -> bytes:
        found = self._fingerprints.get(terminal)
        if found is None:
            dfa = self._dfas[terminal]
            digest = hashlib.blake2b(dfa.transitions.tobytes(), digest_size=16)
            digest.update(dfa.accepting.tobytes())
            found = self._fingerprints[terminal] = digest.digest()
        return found
