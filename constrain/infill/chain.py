"""The canvas automaton of a hole-free-of-cycles canvas, with state ids that survive edits.

When every hole is bounded (a diffusion canvas), the canvas automaton is acyclic: a chain of
*chain states* ``0..N`` (one per known byte and one per token slot boundary ``B_j``), with the
states inside a token slot hanging between ``B_j`` and ``B_{j+1}``. A state's id is
``chain * width + sub``: ``sub`` 0 is the chain state itself, ``1 + r`` the vocabulary state of
topological rank ``r`` inside the slot that starts there. So ids ascend in a topological order,
and two canvases that agree on their first ``c`` chain positions give the same ids, edges and
paths to every state before chain state ``c``. That is what lets a check resume from the
work of an earlier check on a canvas with the same beginning (see ``columns``).

A chain state ``c`` is a *cut* when no edge jumps over it: every path from the states before
it to the states after passes through it. Only the boundaries inside an ``at most k tokens``
run are not cuts (their empty moves to the run's end skip the boundaries between).
"""

from __future__ import annotations

import bisect
import functools

from constrain.infill.canvas import NO_BYTE, Edge, TokenRun
from constrain.infill.vocab_automaton import VocabAutomaton

ChainPiece = bytes | TokenRun


@functools.cache
def topological_order(automaton: VocabAutomaton) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(order, rank)``: the automaton's states with the root first, every arc going forward."""
    n = automaton.n_states
    indegree = [0] * n
    for arcs in automaton.edges:
        for arc in arcs:
            if arc.continues:
                indegree[arc.target] += 1
    order, ready = [], [0]
    while ready:
        state = ready.pop()
        order.append(state)
        for arc in automaton.edges[state]:
            if arc.continues:
                indegree[arc.target] -= 1
                if indegree[arc.target] == 0:
                    ready.append(arc.target)
    rank = [0] * n
    for position, state in enumerate(order):
        rank[state] = position
    return tuple(order), tuple(rank)


class ChainCanvas:
    """An ε-free view of an acyclic canvas with stable ids; edges are built when asked for."""

    def __init__(self, pieces: list[ChainPiece]):
        self.pieces = [p for p in pieces if (len(p) if isinstance(p, bytes) else p.count)]
        self.starts: list[int] = []
        chain = 0
        automata = set()
        for piece in self.pieces:
            self.starts.append(chain)
            if isinstance(piece, bytes):
                chain += len(piece)
            else:
                chain += piece.count
                automata.add(piece.automaton)
        self.length = chain  # the final chain state
        if len(automata) > 1:
            raise ValueError("internal error: one chain canvas takes a single vocabulary automaton")
        self.automaton = automata.pop() if automata else None
        self.width = 1 + (self.automaton.n_states if self.automaton else 0)
        self._edges: dict[int, tuple[Edge, ...]] = {}
        self._final: dict[int, bool] = {}

    def piece_at(self, chain: int) -> int:
        """Index of the piece whose first chain position is at or before ``chain`` (``chain < N``)."""
        return bisect.bisect_right(self.starts, chain) - 1

    def is_cut(self, chain: int) -> bool:
        """Whether no edge passes over chain state ``chain`` (see the module docstring)."""
        if chain == 0:
            return True
        piece = self.pieces[self.piece_at(chain - 1)]
        return isinstance(piece, bytes) or piece.exact

    def is_final(self, state: int) -> bool:
        chain, sub = divmod(state, self.width)
        if sub:
            return False
        found = self._final.get(chain)
        if found is None:
            found = chain == self.length
            if not found:
                index = self.piece_at(chain)
                piece = self.pieces[index]
                if isinstance(piece, TokenRun) and not piece.exact:
                    found = self.is_final(self.width * (self.starts[index] + piece.count))
            self._final[chain] = found
        return found

    def edges(self, state: int) -> tuple[Edge, ...]:
        found = self._edges.get(state)
        if found is None:
            found = self._edges[state] = self._build_edges(state)
        return found

    def _build_edges(self, state: int) -> tuple[Edge, ...]:
        chain, sub = divmod(state, self.width)
        if chain == self.length:
            return ()
        index = self.piece_at(chain)
        piece = self.pieces[index]
        if isinstance(piece, bytes):
            byte = piece[chain - self.starts[index]]
            return (Edge(1 << byte, state + self.width, byte),)
        order, rank = topological_order(piece.automaton)
        edges = []
        for arc in piece.automaton.edges[order[sub - 1] if sub else 0]:
            single = arc.mask.bit_length() - 1 if arc.mask & (arc.mask - 1) == 0 else NO_BYTE
            if arc.continues:
                edges.append(Edge(arc.mask, chain * self.width + 1 + rank[arc.target], single))
            if arc.ends_token:
                edges.append(Edge(arc.mask, (chain + 1) * self.width, single))
        if not sub and not piece.exact:
            end = self.starts[index] + piece.count
            if end != chain:
                edges.extend(self.edges(end * self.width))
        return tuple(edges)


def common_prefix(old: ChainCanvas, new: ChainCanvas) -> int:
    """How many chain positions two canvases share from the start: states before it agree."""
    chain = 0
    for a, b in zip(old.pieces, new.pieces, strict=False):
        if isinstance(a, bytes) and isinstance(b, bytes):
            if a == b:
                chain += len(a)
                continue
            return chain + _common_bytes(a, b)
        if isinstance(a, bytes) or isinstance(b, bytes) or a.automaton is not b.automaton:
            return chain
        if a.exact and b.exact:
            if a.count == b.count:
                chain += a.count
                continue
            return chain + min(a.count, b.count)
        if a.exact == b.exact and a.count == b.count:
            chain += a.count
            continue
        return chain
    return chain


def _common_bytes(a: bytes, b: bytes) -> int:
    """Length of the longest common prefix, by bisection on C-level slice comparisons."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low
