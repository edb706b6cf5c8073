"""The token-level automaton of a compiled grammar, built lazily and cached.

A matcher state is a set of *threads* ``(chart, lexer state)``: a parser state plus
how far the current lexeme has been read. There is usually one thread; more appear
while a lexeme could still end in several places. States are interned, so their masks,
token transitions and forced bytes are computed once and then served from cache:
generating JSON revisits the same few states over and over.

A mask is the union of the tokens the threads' lexemes can absorb (one Numba walk of
the token trie per lexer state, shared by every parser state) and of the tokens that
cross lexeme boundaries, found by asking the parser what follows each boundary and
walking only the subtrees below the boundary nodes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from constrain.earley import DEAD as DEAD_CHART
from constrain.earley import EarleyParser
from constrain.lexer import Lexer
from constrain.native import TrieWalker
from constrain.vocabulary import Vocabulary

DEAD = -1
Thread = tuple[int, int]  # (Earley chart id, lexer state)
MAX_CACHED_MASKS = 4096
MAX_CACHED_WALKS = 32768
MAX_FORCED_BYTES = 4096
SMALL_GROUP = 24
_SHARED_WALKS: dict[str, dict[tuple[bytes, bytes], Walk]] = {}  # per vocabulary fingerprint
ArrivalsByDepth = dict[int, dict[int, list[np.ndarray]]]  # depth -> chart after a lexeme -> nodes


@dataclass(eq=False)
class State:
    threads: frozenset[Thread]
    accepting: bool
    terminated: bool = False
    next: dict[int, int] = field(default_factory=dict)
    forced: bytes | None = None


@dataclass(frozen=True, eq=False)
class Walk:
    bits: np.ndarray  # uint32 mask words of the tokens the walk allowed
    events: dict[int, list[tuple[int, np.ndarray]]]  # accepting lexer state -> [(depth, boundary nodes)]


class TokenAutomaton:
    """Interned matcher states of one grammar over one vocabulary; see the module doc."""

    def __init__(self, parser: EarleyParser, lexer: Lexer, vocab: Vocabulary):
        self.parser = parser
        self.lexer = lexer
        self.vocab = vocab
        self.n_words = (vocab.size + 31) // 32
        self._eos_bits = np.zeros(self.n_words, dtype=np.uint32)
        for token in vocab.eos_token_ids:
            self._eos_bits[token >> 5] |= np.uint32(1 << (token & 31))
        self._walker = TrieWalker(vocab.trie)
        self._trie_root = np.zeros(1, dtype=np.int32)
        self.states: list[State] = []
        self._ids: dict[frozenset[Thread], int] = {}
        self._walks: dict[tuple[int, bytes], Walk] = {}
        self._shared_walks = _SHARED_WALKS.setdefault(vocab.fingerprint, {})
        self._lexeme_ends: dict[tuple[int, int], tuple[int, ...]] = {}
        self._masks: OrderedDict[int, np.ndarray] = OrderedDict()
        self.terminated = self._add(State(frozenset(), accepting=True, terminated=True))
        self.initial = self._intern(frozenset({self._fresh(0)}))

    # --- states and transitions -------------------------------------------------

    def advance(self, state: int, token: int) -> int:
        """The state after ``token``, or DEAD; cached per (state, token)."""
        current = self.states[state]
        result = current.next.get(token)
        if result is None:
            if token in self.vocab.eos_token_ids:
                result = self.terminated if current.accepting else DEAD
            elif current.terminated or not self.vocab.token_bytes[token]:
                result = DEAD
            else:
                result = self._intern(self._read(current.threads, self.vocab.token_bytes[token]))
            current.next[token] = result
        return result

    def advance_bytes(self, state: int, data: bytes) -> int:
        """The state after reading raw bytes (not necessarily whole tokens), or DEAD."""
        current = self.states[state]
        if current.terminated:
            return DEAD if data else state
        return self._intern(self._read(current.threads, data))

    def forced_bytes(self, state: int) -> bytes:
        """Bytes every continuation must start with: the grammar leaves no choice about them."""
        current = self.states[state]
        if current.forced is None:
            out = bytearray()
            threads = current.threads
            while len(out) < MAX_FORCED_BYTES and threads and not self._is_accepting(threads):
                rows = self.lexer.transitions[[s for _, s in threads]]
                allowed = np.flatnonzero((rows >= 0).any(axis=0))
                if len(allowed) != 1:
                    break
                out.append(int(allowed[0]))
                threads = self._read(threads, bytes(out[-1:]))
            current.forced = bytes(out)
        return current.forced

    def _read(self, threads: frozenset[Thread], data: bytes) -> frozenset[Thread]:
        """Step every thread over ``data``; where lexemes end, one merged fresh thread starts."""
        lexer = self.lexer
        for byte in data:
            stepped: set[Thread] = set()
            ended: set[int] = set()
            for chart, lexer_state in threads:
                after = lexer.step(lexer_state, byte)
                if after < 0:
                    continue
                stepped.add((chart, after))
                if lexer.accepted[after]:
                    ended.update(self._lexeme_end(chart, after))
            if ended:
                stepped.add(self._fresh(self.parser.merge(frozenset(ended))))
            if not stepped:
                return frozenset()
            threads = frozenset(stepped)
        return threads

    def _lexeme_end(self, chart: int, lexer_state: int) -> tuple[int, ...]:
        """Charts after ending the current lexeme as each terminal its state accepts; cached."""
        key = (chart, lexer_state)
        out = self._lexeme_ends.get(key)
        if out is None:
            charts = []
            expected = self.parser.expected_terminals(chart)
            for terminal in self.lexer.accepted[lexer_state]:
                if terminal in self.parser.grammar.ignore:
                    charts.append(chart)
                if terminal in expected:
                    after = self.parser.scan(chart, terminal)
                    if after != DEAD_CHART:
                        charts.append(after)
            out = self._lexeme_ends[key] = tuple(charts)
        return out

    def _fresh(self, chart: int) -> Thread:
        return (chart, self.lexer.start_state(self.parser.expected_terminals(chart)))

    def _is_accepting(self, threads: frozenset[Thread]) -> bool:
        return any(self.lexer.is_fresh[s] and self.parser.is_accepting(c) for c, s in threads)

    def _intern(self, threads: frozenset[Thread]) -> int:
        if not threads:
            return DEAD
        state = self._ids.get(threads)
        if state is None:
            state = self._add(State(threads, accepting=self._is_accepting(threads)))
            self._ids[threads] = state
        return state

    def _add(self, state: State) -> int:
        self.states.append(state)
        return len(self.states) - 1

    # --- masks ----------------------------------------------------------------------

    def mask(self, state: int) -> np.ndarray:
        """uint32 words of the allowed tokens (end tokens included when complete); cached.

        Tokens the threads' lexemes can absorb come from one walk each from the trie root.
        Walks record the nodes where a lexeme may end; the charts after those lexemes are
        merged per node, shallowest nodes first, and walked from there in turn, so each
        node is walked once per text position however many splits lead to it.
        """
        bits = self._masks.get(state)
        if bits is not None:
            self._masks.move_to_end(state)
            return bits
        current = self.states[state]
        bits = self._eos_bits.copy() if current.accepting else np.zeros(self.n_words, dtype=np.uint32)
        by_depth: ArrivalsByDepth = {}
        for chart, lexer_state in current.threads:
            walk = self._walk(lexer_state, self._trie_root)
            bits |= walk.bits
            self._file_arrivals(by_depth, chart, walk)
        while by_depth:
            for chart, roots in self._merge_arrivals(by_depth.pop(min(by_depth))):
                walk = self._walk(self._fresh(chart)[1], roots)
                bits |= walk.bits
                self._file_arrivals(by_depth, chart, walk)
        self._masks[state] = bits
        if len(self._masks) > MAX_CACHED_MASKS:
            self._masks.popitem(last=False)
        return bits

    def _file_arrivals(
        self, by_depth: dict[int, dict[int, list[np.ndarray]]], chart: int, walk: Walk
    ) -> None:
        """File, by trie depth and chart, the nodes where a walk from ``chart`` ended a lexeme."""
        for lexer_state, groups in walk.events.items():
            afters = self._lexeme_end(chart, lexer_state)
            for depth, group in groups if afters else ():
                at_depth = by_depth.setdefault(depth, {})
                for after in afters:
                    at_depth.setdefault(after, []).append(group)

    def _merge_arrivals(self, arrivals: dict[int, list[np.ndarray]]) -> list[tuple[int, np.ndarray]]:
        """Group the nodes of one depth by the merged chart of everything arriving there.

        Vectorized: usually each node is reached from one chart only, and only the nodes
        reached from several charts (other splits of the same bytes) go through a merge.
        """
        nodes_of = {chart: _sorted_unique(np.concatenate(groups)) for chart, groups in arrivals.items()}
        if len(nodes_of) == 1:
            return list(nodes_of.items())
        charts = np.concatenate(
            [np.full(len(nodes), chart, dtype=np.int64) for chart, nodes in nodes_of.items()]
        )
        nodes = np.concatenate(list(nodes_of.values())).astype(np.int64)
        order = np.lexsort((charts, nodes))
        charts, nodes = charts[order], nodes[order]
        starts = np.flatnonzero(np.concatenate(([True], nodes[1:] != nodes[:-1])))
        counts = np.diff(np.append(starts, len(nodes)))
        node_chart = charts[starts].copy()
        for i in np.flatnonzero(counts > 1).tolist():
            begin = starts[i]
            node_chart[i] = self.parser.merge(frozenset(charts[begin : begin + counts[i]].tolist()))
        return _group_nodes_by(nodes[starts], node_chart)

    def _walk(self, lexer_state: int, roots: np.ndarray) -> Walk:
        """Walk the subtrees below ``roots`` (sorted, distinct) from ``lexer_state``; cached.

        Besides this automaton's cache, walks are shared across every grammar compiled
        against the same vocabulary through the lexer state's canonical shape.
        """
        key = (lexer_state, roots.tobytes())
        walk = self._walks.get(key)
        if walk is None:
            signature, order = self.lexer.shape(lexer_state)
            shared_key = (signature, key[1])
            shared = self._shared_walks.get(shared_key)
            if shared is None:
                shared = self._walk_in_kernel(lexer_state, roots, order)
                if len(self._shared_walks) >= MAX_CACHED_WALKS:
                    self._shared_walks.clear()
                self._shared_walks[shared_key] = shared
            walk = Walk(shared.bits, {order[index]: groups for index, groups in shared.events.items()})
            if len(self._walks) >= MAX_CACHED_WALKS:
                self._walks.clear()
            self._walks[key] = walk
        return walk

    def _walk_in_kernel(self, lexer_state: int, roots: np.ndarray, order: list[int]) -> Walk:
        """One kernel walk; its events are keyed by canonical state index (``order``)."""
        bits = np.zeros(self.n_words, dtype=np.uint32)
        lexer = self.lexer
        nodes, states = self._walker.walk(lexer.transitions, lexer.accepting, roots, lexer_state, bits)
        canonical = {state: index for index, state in enumerate(order)}
        depth_of = self.vocab.trie.node_depth
        events = {
            canonical[state]: _group_nodes_by(group, depth_of[group])
            for state, group in _group_nodes_by(nodes, states)
        }
        return Walk(bits, events)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting, which beats its hash path by far on these small arrays."""
    if len(values) < 2:
        return values
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def _group_nodes_by(nodes: np.ndarray, keys: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(key, sorted distinct int32 nodes with that key) for every key present."""
    if len(nodes) <= SMALL_GROUP:  # numpy's per-call cost dominates on the usual few events
        groups: dict[int, set[int]] = {}
        for node, key in zip(nodes.tolist(), keys.tolist(), strict=True):
            groups.setdefault(key, set()).add(node)
        return [(key, np.array(sorted(group), dtype=np.int32)) for key, group in sorted(groups.items())]
    order = np.lexsort((nodes, keys))
    nodes, keys = nodes[order], keys[order]
    keep = np.concatenate(([True], (nodes[1:] != nodes[:-1]) | (keys[1:] != keys[:-1])))
    nodes, keys = nodes[keep].astype(np.int32), keys[keep]
    bounds = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), len(keys)]
    return [(int(keys[begin]), nodes[begin:end]) for begin, end in pairwise(bounds)]
