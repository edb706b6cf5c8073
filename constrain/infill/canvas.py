"""The canvas automaton: an NFA over bytes for the regular language R of a partial output.

Known bytes become a chain of states; ``Hole()`` is a self-loop on every byte; a bounded
hole of ``k`` tokens (a :class:`TokenRun`) is ``k`` copies of the vocabulary automaton
glued at token ends, with its boundary states ``B_0..B_k`` (``B_0`` is the state the hole
starts from). ``max_tokens`` adds an empty move from every ``B_j`` to ``B_k``. A run may
use another automaton than the vocabulary's: the checker's cheap approximations use the
automaton of all single bytes (widening) or of the single-byte tokens (narrowing).
Empty moves are removed on the fly: a state's edges are those of its empty-move closure,
and it is final when the closure holds the final state. So the search sees an ε-free
automaton with the same language.

The states inside the token copies are created only when the search reaches them: a real
vocabulary's automaton has tens of thousands of states per copy, and a lexeme running
through a hole typically touches a few of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from constrain.infill.segments import Hole
from constrain.infill.vocab_automaton import VocabAutomaton

ANY_BYTE = (1 << 256) - 1
NO_BYTE = -1


@dataclass(frozen=True, eq=False)
class TokenRun:
    """``count`` words of ``automaton``'s language in a row, or at most ``count`` unless ``exact``."""

    count: int
    exact: bool
    automaton: VocabAutomaton


CanvasPiece = bytes | Hole | TokenRun  # a Hole here is always unbounded: any bytes


@dataclass(frozen=True)
class Edge:
    """Any byte of ``mask`` leads to ``target``; ``byte`` is that byte when the mask has just one."""

    mask: int
    target: int
    byte: int = NO_BYTE


class Canvas:
    """Lazily expanded ε-free NFA; state 0 is initial, :meth:`is_final` says which states accept."""

    def __init__(self, pieces: list[CanvasPiece]):
        self._explicit: list[list[Edge]] = [[]]
        self._empty_moves: list[list[int]] = [[]]
        self._token_copy: dict[int, tuple[int, int, int]] = {}  # state -> (hole, copy, vocab state)
        self._runs: list[tuple[TokenRun, list[int]]] = []  # hole -> (run, its B_0..B_k)
        self._interior: dict[tuple[int, int, int], int] = {}
        self._edges: dict[int, tuple[Edge, ...]] = {}
        self._closures: dict[int, frozenset[int]] = {}
        current = 0
        for piece in pieces:
            if isinstance(piece, bytes):
                current = self._add_text(current, piece)
            elif isinstance(piece, TokenRun):
                current = self._add_run(current, piece)
            else:
                self._explicit[current].append(Edge(ANY_BYTE, current))
        self.final = current

    @property
    def n_states(self) -> int:
        return len(self._explicit)

    def is_final(self, state: int) -> bool:
        return self.final in self._closure(state)

    def edges(self, state: int) -> tuple[Edge, ...]:
        """The outgoing edges after empty-move removal, one per target (masks merged)."""
        found = self._edges.get(state)
        if found is None:
            masks: dict[int, int] = {}
            for source in self._closure(state):
                for edge in self._own_edges(source):
                    masks[edge.target] = masks.get(edge.target, 0) | edge.mask
            found = self._edges[state] = tuple(_edge(mask, target) for target, mask in masks.items())
        return found

    # --- construction -----------------------------------------------------------------

    def _new_state(self) -> int:
        self._explicit.append([])
        self._empty_moves.append([])
        return len(self._explicit) - 1

    def _add_text(self, state: int, data: bytes) -> int:
        for byte in data:
            target = self._new_state()
            self._explicit[state].append(Edge(1 << byte, target, byte))
            state = target
        return state

    def _add_run(self, state: int, run: TokenRun) -> int:
        boundaries = [state] + [self._new_state() for _ in range(run.count)]
        hole_id = len(self._runs)
        self._runs.append((run, boundaries))
        for copy, boundary in enumerate(boundaries[:-1]):
            self._token_copy[boundary] = (hole_id, copy, 0)
            if not run.exact:
                self._empty_moves[boundary].append(boundaries[-1])
        return boundaries[-1]

    # --- lazy expansion ---------------------------------------------------------------

    def _closure(self, state: int) -> frozenset[int]:
        found = self._closures.get(state)
        if found is None:
            found = frozenset([state]).union(*(self._closure(t) for t in self._empty_moves[state]))
            self._closures[state] = found
        return found

    def _own_edges(self, state: int) -> list[Edge]:
        """Edges before empty-move removal: explicit ones, plus the vocabulary's inside a token copy."""
        where = self._token_copy.get(state)
        if where is None:
            return self._explicit[state]
        hole_id, copy, vocab_state = where
        run, boundaries = self._runs[hole_id]
        edges = list(self._explicit[state])
        for arc in run.automaton.edges[vocab_state]:
            if arc.continues:
                edges.append(Edge(arc.mask, self._interior_state(hole_id, copy, arc.target)))
            if arc.ends_token:
                edges.append(Edge(arc.mask, boundaries[copy + 1]))
        return edges

    def _interior_state(self, hole_id: int, copy: int, vocab_state: int) -> int:
        key = (hole_id, copy, vocab_state)
        state = self._interior.get(key)
        if state is None:
            state = self._interior[key] = self._new_state()
            self._token_copy[state] = key
        return state


def _edge(mask: int, target: int) -> Edge:
    single = mask & (mask - 1) == 0
    return Edge(mask, target, mask.bit_length() - 1 if single else NO_BYTE)
