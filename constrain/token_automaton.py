"""The token-level automaton of a compiled grammar, built lazily and cached.

A matcher state is a set of *threads* ``(chart, lexer state)``: a parser state plus
how far the current lexeme has been read. There is usually one thread; more appear
when a text can be split into lexemes in several ways. States are interned, so their
masks, token transitions and forced bytes are computed once and then served from
cache: generating JSON revisits the same few states over and over.

A mask is the union, over threads, of the tokens the lexer can read without dying
(one Numba walk of the token trie per lexer state, shared by every parser state) and
of the tokens that cross a lexeme boundary, found by asking the parser what follows
the boundary and walking only the subtrees below the boundary nodes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from constrain.earley import DEAD as DEAD_CHART
from constrain.earley import EarleyParser
from constrain.lexer import Lexer
from constrain.native import TrieWalker
from constrain.vocabulary import Vocabulary

DEAD = -1
Thread = tuple[int, int]  # (Earley chart id, lexer state)
MAX_CACHED_MASKS = 4096
MAX_FORCED_BYTES = 4096


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
    events: dict[int, np.ndarray]  # accepting lexer state -> boundary nodes reached in it


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
        self._root = np.zeros(1, dtype=np.int32)
        self.states: list[State] = []
        self._ids: dict[frozenset[Thread], int] = {}
        self._walks: dict[WalkKey, Walk] = {}
        self._thread_masks: OrderedDict[Thread, np.ndarray] = OrderedDict()
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
                threads = self._read(current.threads, self.vocab.token_bytes[token])
                result = self._intern(threads) if threads else DEAD
            current.next[token] = result
        return result

    def advance_bytes(self, state: int, data: bytes) -> int:
        """The state after reading raw bytes (not necessarily whole tokens), or DEAD."""
        current = self.states[state]
        if current.terminated:
            return DEAD if data else state
        threads = self._read(current.threads, data)
        return self._intern(threads) if threads else DEAD

    def forced_bytes(self, state: int) -> bytes:
        """Bytes every continuation must start with: the grammar leaves no choice about them."""
        current = self.states[state]
        if current.forced is None:
            out = bytearray()
            threads = current.threads
            while len(out) < MAX_FORCED_BYTES and threads and not self._is_accepting(threads):
                transitions = self.lexer.transitions
                allowed = np.unique(np.concatenate([np.flatnonzero(transitions[s] >= 0) for _, s in threads]))
                if len(allowed) != 1:
                    break
                out.append(int(allowed[0]))
                threads = self._read(threads, bytes(out[-1:]))
            current.forced = bytes(out)
        return current.forced

    def _read(self, threads: frozenset[Thread], data: bytes) -> frozenset[Thread]:
        """Step every thread over ``data``, forking at each place a lexeme may end."""
        lexer = self.lexer
        for byte in data:
            stepped: set[Thread] = set()
            for chart, lexer_state in threads:
                after = lexer.step(lexer_state, byte)
                if after < 0:
                    continue
                stepped.add((chart, after))
                if lexer.accepted[after]:
                    stepped.update(self._lexeme_end(chart, after))
            if not stepped:
                return frozenset()
            threads = frozenset(stepped)
        return threads

    def _lexeme_end(self, chart: int, lexer_state: int) -> list[Thread]:
        """Fresh threads after ending the current lexeme as each terminal it accepts."""
        out = []
        expected = self.parser.expected_terminals(chart)
        for terminal in self.lexer.accepted[lexer_state]:
            if terminal in self.lexer_ignore:
                out.append(self._fresh(chart))
            if terminal in expected:
                after = self.parser.scan(chart, terminal)
                if after != DEAD_CHART:
                    out.append(self._fresh(after))
        return out

    @property
    def lexer_ignore(self) -> frozenset[int]:
        return self.parser.grammar.ignore

    def _fresh(self, chart: int) -> Thread:
        return (chart, self.lexer.start_state(self.parser.expected_terminals(chart)))

    def _is_accepting(self, threads: frozenset[Thread]) -> bool:
        return any(self.lexer.is_fresh[s] and self.parser.is_accepting(c) for c, s in threads)

    def _intern(self, threads: frozenset[Thread]) -> int:
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
        """uint32 words of the allowed tokens (end tokens included when complete); cached."""
        bits = self._masks.get(state)
        if bits is not None:
            self._masks.move_to_end(state)
            return bits
        current = self.states[state]
        bits = self._eos_bits.copy() if current.accepting else np.zeros(self.n_words, dtype=np.uint32)
        for thread in current.threads:
            bits |= self._thread_mask(thread)
        return _remember(self._masks, state, bits)

    def _thread_mask(self, thread: Thread) -> np.ndarray:
        """Tokens one thread allows: walk from the trie root, then below every boundary.

        Each (thread, node) pair is walked at most once. Without that, an ignored terminal
        such as whitespace, which can end and restart at every node of a run of spaces,
        would make every deeper boundary re-walk what a shallower one already covered.
        """
        bits = self._thread_masks.get(thread)
        if bits is not None:
            self._thread_masks.move_to_end(thread)
            return bits
        bits = np.zeros(self.n_words, dtype=np.uint32)
        walked: dict[Thread, np.ndarray] = {}
        pending = [(thread, self._root)]
        while pending:
            current, roots = pending.pop()
            before = walked.get(current)
            if before is not None:
                roots = np.setdiff1d(roots, before, assume_unique=True)
                if not len(roots):
                    continue
                walked[current] = np.union1d(before, roots)
            else:
                walked[current] = roots
            chart, lexer_state = current
            walk = self._walk(lexer_state, roots)
            bits |= walk.bits
            for event_state, nodes in walk.events.items():
                pending.extend((after, nodes) for after in self._lexeme_end(chart, event_state))
        return _remember(self._thread_masks, thread, bits)

    def _walk(self, lexer_state: int, roots: np.ndarray) -> Walk:
        """Walk the subtrees below ``roots`` (sorted, unique) from ``lexer_state``; cached."""
        key = (lexer_state, roots.tobytes())
        walk = self._walks.get(key)
        if walk is None:
            bits = np.zeros(self.n_words, dtype=np.uint32)
            nodes, states = self._walker.walk(
                self.lexer.transitions, self.lexer.accepting, roots, lexer_state, bits
            )
            events = {int(state): np.unique(nodes[states == state]) for state in np.unique(states)}
            walk = Walk(bits, events)
            if len(self._walks) >= 8 * MAX_CACHED_MASKS:
                self._walks.clear()
            self._walks[key] = walk
        return walk


def _remember(cache: OrderedDict, key: object, bits: np.ndarray) -> np.ndarray:
    cache[key] = bits
    if len(cache) > MAX_CACHED_MASKS:
        cache.popitem(last=False)
    return bits
