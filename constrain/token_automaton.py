"""The token-level automaton of a compiled grammar, built lazily and cached.

A matcher state is a set of *threads* ``(chart, lexer state)``: a parser state plus
how far the current lexeme has been read. There is usually one thread; more appear
while a lexeme could still end in several places. States are interned, so their masks,
token transitions and forced bytes are computed once and then served from cache:
generating JSON revisits the same few states over and over.

A mask is the union of the tokens the threads' lexemes can absorb (one Numba walk of
the token trie per lexer state, shared by every parser state and every grammar) and of
the tokens that cross lexeme boundaries. Those are found by a second kernel that walks
below the boundary nodes carrying every thread at once, and reads the parser through
integer tables (chart x lexeme -> chart, chart -> fresh lexer state) that Python fills
lazily when the kernel stops at an entry it has not met: the parser is consulted once
per new (chart, lexeme), never per trie node.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from constrain.earley import DEAD as DEAD_CHART
from constrain.earley import EarleyParser
from constrain.lexer import Lexer, RelativeName
from constrain.native import (
    DONE,
    NEED_END,
    NEED_MERGE,
    NEED_START,
    UNKNOWN,
    BoundaryWalk,
    IntTable,
    TrieWalker,
    pair_key,
    readable_below,
    reads_all,
    trie_child_bytes,
    trie_parents,
)
from constrain.slices import vocabulary_slices
from constrain.vocabulary import Vocabulary

DEAD = -1
Thread = tuple[int, int]  # (Earley chart id, lexer state)
MAX_CACHED_MASKS = 4096
MAX_CACHED_WALKS = 32768
SHARED_WALK_BYTES = 256 * 2**20  # per vocabulary, for the walks every grammar shares
MAX_FORCED_BYTES = 4096
INITIAL_ROOM = 8  # threads per trie depth the boundary kernel starts with; doubled on demand
_SHARED_WALKS: dict[str, SharedWalks] = {}  # per vocabulary fingerprint
_TRIE_LINKS: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}  # fingerprint -> parents, child bytes, depth


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
    # per accepting lexer state: the nodes where a lexeme may end in it inside a token, in preorder
    # (in a shared walk the state is a RelativeName, the same in every grammar)
    boundaries: tuple[tuple[int | RelativeName, np.ndarray], ...]

    @property
    def n_bytes(self) -> int:
        return self.bits.nbytes + sum(nodes.nbytes for _, nodes in self.boundaries)


class SharedWalks:
    """Walks shared by every grammar over one vocabulary, keyed by lexer-state shape.

    A server compiles thousands of schemas against one vocabulary and each brings new
    shapes, so the walks (a mask's worth of bits each, plus boundary nodes) are bounded by
    their total size, keys included, evicting the least recently used first.
    """

    def __init__(self, budget: int = SHARED_WALK_BYTES):
        self.budget = budget
        self.n_bytes = 0
        self._walks: OrderedDict[bytes, Walk] = OrderedDict()

    def __len__(self) -> int:
        return len(self._walks)

    def get(self, signature: bytes) -> Walk | None:
        walk = self._walks.get(signature)
        if walk is not None:
            self._walks.move_to_end(signature)
        return walk

    def put(self, signature: bytes, walk: Walk) -> None:
        previous = self._walks.pop(signature, None)
        if previous is not None:
            self.n_bytes -= len(signature) + previous.n_bytes
        self._walks[signature] = walk
        self.n_bytes += len(signature) + walk.n_bytes
        while self.n_bytes > self.budget and len(self._walks) > 1:
            old_signature, old = self._walks.popitem(last=False)
            self.n_bytes -= len(old_signature) + old.n_bytes


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
        if vocab.fingerprint not in _TRIE_LINKS:
            parents = trie_parents(vocab.trie)
            depth = int(vocab.trie.node_depth.max())
            _TRIE_LINKS[vocab.fingerprint] = (parents, trie_child_bytes(vocab.trie, parents), depth)
        self._parents, self._child_bytes, self._trie_depth = _TRIE_LINKS[vocab.fingerprint]
        self._slices = vocabulary_slices(vocab, self._parents)
        self._end_of: dict[tuple[int, int], int] = {}  # mirrors self._ends
        self._worth_visiting: dict[tuple[int, int, int], np.ndarray] = {}
        self._ends = IntTable()  # (chart, class of accepted terminals) -> chart after the lexeme, or DEAD
        self._merges = IntTable()  # (chart, chart) -> their merge
        self._starts = np.full(1024, UNKNOWN, dtype=np.int32)  # chart -> fresh lexer state
        self._room = INITIAL_ROOM
        self.states: list[State] = []
        self._ids: dict[frozenset[Thread], int] = {}
        self._walks: dict[int, Walk] = {}
        self._shared_walks = _SHARED_WALKS.setdefault(vocab.fingerprint, SharedWalks())
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
                terminal_class = lexer.terminal_class(after)
                if terminal_class:
                    ended.update(self._lexeme_end(chart, terminal_class))
            if ended:
                stepped.add(self._fresh(self.parser.merge(frozenset(ended))))
            if not stepped:
                return frozenset()
            threads = frozenset(stepped)
        return threads

    def _lexeme_end(self, chart: int, terminal_class: int) -> tuple[int, ...]:
        """Charts after ending the current lexeme as each terminal of its lexer state's class
        (``Lexer.terminal_classes``); cached."""
        key = (chart, terminal_class)
        out = self._lexeme_ends.get(key)
        if out is None:
            charts = []
            expected = self.parser.expected_terminals(chart)
            for terminal in self.lexer.class_terminals(terminal_class):
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
        return any(self.lexer.is_fresh(s) and self.parser.is_accepting(c) for c, s in threads)

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

        Tokens the threads' lexemes can absorb come from one cached walk each from the trie
        root. The walks also give the nodes where a lexeme may end inside a token; below
        those, the boundary kernel carries every thread at once (see ``boundary_walk``),
        stopping only to have the parser fill a table entry it has not met before. It starts
        only at boundaries where the lexeme that follows can read the next byte of some token.
        """
        bits = self._masks.get(state)
        if bits is not None:
            self._masks.move_to_end(state)
            return bits
        threads = sorted(self.states[state].threads)
        bits = self._eos_bits.copy() if self.states[state].accepting else np.zeros(self.n_words, np.uint32)
        tops = []
        for chart, lexer_state in threads:
            walk = self._walk(lexer_state)
            bits |= walk.bits
            for accepted, nodes in walk.boundaries:
                worth = self._boundaries_worth_visiting(chart, lexer_state, accepted, nodes)
                if len(worth):
                    tops.append(worth)
        if tops:
            self._walk_below_boundaries(threads, tops, bits)
        self._masks[state] = bits
        if len(self._masks) > MAX_CACHED_MASKS:
            self._masks.popitem(last=False)
        return bits

    def _walk_below_boundaries(self, threads: list[Thread], tops: list[np.ndarray], bits: np.ndarray) -> None:
        """Run the boundary kernel below ``tops`` (sorted node lists), filling the table entries
        it asks for."""
        trie, depth = self.vocab.trie, self._trie_depth
        walk = BoundaryWalk(trie, self._parents, max(self._room, len(threads)), threads, tops, depth)
        while True:
            lexer = self.lexer
            status = walk.run(
                lexer.transitions, lexer.terminal_classes, self._ends, self._merges, self._starts, bits
            )
            if status == DONE:
                return
            first, second = walk.need.tolist()
            if status == NEED_END:  # the kernel will want the fresh state after it next: fill both
                self._start_of(self._end_chart(first, second))
            elif status == NEED_MERGE:
                merged = self.parser.merge(frozenset((first, second)))
                self._merges.put(pair_key(first, second), merged)
                self._start_of(merged)
            elif status == NEED_START:
                self._start_of(first)
            else:  # NEED_ROOM: more threads at one depth than the kernel had room for
                self._room *= 2
                walk = BoundaryWalk(trie, self._parents, self._room, threads, tops, depth)

    def _boundaries_worth_visiting(
        self, chart: int, root: int, accepted: int, nodes: np.ndarray
    ) -> np.ndarray:
        """The boundary ``nodes`` (reached from lexer state ``root`` in state ``accepted``) below
        which the lexeme starting after ``chart`` ends a lexeme there can read a byte; cached."""
        after = self._end_chart(chart, self.lexer.terminal_class(accepted))
        if after == DEAD:
            return nodes[:0]
        fresh = self._start_of(after)
        key = (root, accepted, fresh)
        worth = self._worth_visiting.get(key)
        if worth is None:
            worth = readable_below(nodes, self._child_bytes, self.lexer.transitions, fresh)
            if len(self._worth_visiting) >= MAX_CACHED_WALKS:
                self._worth_visiting.clear()
            self._worth_visiting[key] = worth
        return worth

    def _end_chart(self, chart: int, terminal_class: int) -> int:
        """The merged chart after a lexeme of every terminal in the class ends after ``chart``,
        or DEAD; recorded for the boundary kernel too."""
        after = self._end_of.get((chart, terminal_class))
        if after is None:
            ends = self._lexeme_end(chart, terminal_class)
            after = self.parser.merge(frozenset(ends)) if ends else DEAD
            self._end_of[chart, terminal_class] = after
            self._ends.put(pair_key(chart, terminal_class), after)
        return after

    def _start_of(self, chart: int) -> int:
        """The fresh lexer state after ``chart`` (DEAD after DEAD), recorded for the kernel."""
        if chart == DEAD:
            return DEAD
        if chart >= len(self._starts):
            grown = np.full(max(2 * len(self._starts), chart + 1), UNKNOWN, dtype=np.int32)
            grown[: len(self._starts)] = self._starts
            self._starts = grown
        if self._starts[chart] == UNKNOWN:
            self._starts[chart] = self._fresh(chart)[1]
        return int(self._starts[chart])

    def _walk(self, lexer_state: int) -> Walk:
        """The walk of the whole trie from ``lexer_state``; cached.

        Besides this automaton's cache, walks are shared across every grammar compiled
        against the same vocabulary through the lexer state's signature (the shared copy
        names lexer states relative to the root, see ``Lexer.signature``).
        """
        walk = self._walks.get(lexer_state)
        if walk is None:
            signature, order = self.lexer.signature(lexer_state)
            shared = self._shared_walks.get(signature)
            if shared is None:
                shared = self._walk_in_kernel(lexer_state, order)
                self._shared_walks.put(signature, shared)
            named = self.lexer.state_named
            walk = Walk(shared.bits, tuple((named(name, order), nodes) for name, nodes in shared.boundaries))
            if len(self._walks) >= MAX_CACHED_WALKS:
                self._walks.clear()
            self._walks[lexer_state] = walk
        return walk

    def _walk_in_kernel(self, lexer_state: int, order: tuple[int, ...]) -> Walk:
        """One kernel walk; its boundaries are keyed by state names relative to the root.

        Where the state reads everything a slice reads, the walk is the slice's mask plus a
        walk of the trie of the other tokens (see ``slices``).
        """
        transitions, accepting = self.lexer.transitions, self.lexer.accepting
        for piece in self._slices:
            if reads_all(piece.transitions, transitions, lexer_state):
                bits = piece.bits.copy()
                nodes, states = piece.rest.walk(transitions, accepting, lexer_state, bits)
                nodes = piece.rest_nodes[nodes]
                break
        else:
            bits = np.zeros(self.n_words, dtype=np.uint32)
            nodes, states = self._walker.walk(transitions, accepting, lexer_state, bits)
        by_state = np.argsort(states, kind="stable")  # keeps each state's nodes in preorder
        nodes, states = nodes[by_state], states[by_state]
        starts = np.flatnonzero(np.concatenate(([True], states[1:] != states[:-1]))) if len(states) else []
        bounds = [*starts, len(states)]
        name = self.lexer.relative_name
        groups = tuple((name(int(states[begin]), order), nodes[begin:end]) for begin, end in pairwise(bounds))
        return Walk(bits, groups)
