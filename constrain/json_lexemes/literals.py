"""The JSON literals of a finite set of strings, built directly as a trie of spellings.

``escapes.json_encodings`` handles any decoded language, walking the hex digits of every
``\\uXXXX`` escape in step with the UTF-8 bytes for all states at once; for a handful of
known strings (property names, ``enum`` and ``const`` values) that general machinery
costs milliseconds a string. Here each character's spellings are written out instead:
raw (its UTF-8 bytes, unless it must be escaped), a two-character escape where JSON has
one, and ``\\uXXXX`` (a surrogate pair beyond U+FFFF) with each hex letter in either
case. Spellings are sequences of byte *classes* (a hex letter is the class ``{a, A}``),
inserted into a trie whose last step of a character's spellings joins the node of the
decoded prefix, so the result is deterministic: at any node the classes that leave it
are equal or disjoint, and no spelling of one character is a prefix of another's.
The trie is acyclic and every node lies on a path to the end, so hash-consing its nodes
bottom-up on (accepting, successors) yields the minimal DFA without a general (and, on
256-column tables, slower) minimization. The language is exactly that of
``json_encodings`` over the strings' UTF-8 bytes (tested against it).

The complement, every JSON string literal except those of the values (the keys an
object leaves undeclared), is the same trie grafted onto the automaton of all string
literals: off the trie a text continues in the universe's state for the bytes read so
far, and a value's closing quote is cut. Since decoding is a function, this is exactly
the literals of the other values. Each trie node is strictly smaller than its universe
state (a value's completion is missing) and the universe is minimal, so hash-consing
the trie part bottom-up again gives the minimal automaton.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache

import numpy as np

from constrain.byte_dfa import ByteDFA
from constrain.json_lexemes.automata import EMPTY
from constrain.json_lexemes.escapes import HEX_BYTES, SHORT_ESCAPES

Spelling = tuple[bytes, ...]  # one byte class per step; a class is the bytes it allows

SHORT_ESCAPE_OF: dict[int, int] = {decoded: letter for letter, decoded in SHORT_ESCAPES}
MUST_ESCAPE = frozenset({ord('"'), ord("\\")})


def literals_dfa(values: Collection[str]) -> ByteDFA:
    """The quoted JSON literals, in every escaping, of exactly ``values``.

    The values must hold no lone surrogate (callers refuse those; they are not Unicode).
    """
    if not values:
        return EMPTY
    distinct = list(dict.fromkeys(values))
    if len(distinct) == 1:
        return _single_literal_dfa(distinct[0])
    return _spelling_trie(distinct).dfa()


def other_literals_dfa(values: Collection[str], universe: ByteDFA) -> ByteDFA:
    """Every literal of ``universe`` (the minimal DFA of all JSON strings) except ``values``'.

    A value holding a lone surrogate has no literal (none decodes to it): nothing to remove.
    """
    spelled = [value for value in dict.fromkeys(values) if _is_unicode(value)]
    if not spelled:
        return universe
    return _spelling_trie(spelled).graft(universe)


def _spelling_trie(values: Collection[str]) -> _SpellingTrie:
    """The trie of every spelling of the quoted literals of ``values``."""
    trie = _SpellingTrie()
    for value in values:
        node = trie.after_quote
        for char in value:
            node = trie.add_character(node, char)
        trie.end(node)
    return trie


def _single_literal_dfa(value: str) -> ByteDFA:
    """One value's literals (``_SpellingTrie`` for one value, without the dictionaries)."""
    return fragment_dfa(value, open_quote=True, close_quote=True)


def fragment_dfa(text: str, *, open_quote: bool, close_quote: bool) -> ByteDFA:
    """Every spelling of the characters of ``text`` inside a string literal, after an opening
    quote if ``open_quote`` and followed by the closing one if ``close_quote``.

    The characters' gadgets are chained; the chain is minimal, as ``_SpellingTrie.dfa``
    explains. State 0 is the start, then per character its gadget's inner states and the
    state after it; with ``close_quote`` the last state follows the closing quote. A
    property name split into pieces (``json_schema.key_tree``) is spelled by fragments.
    """
    sources: list[int] = [0] if open_quote else []
    columns: list[int] = [ord('"')] if open_quote else []
    targets: list[int] = [1] if open_quote else []
    before = size = 1 if open_quote else 0
    size += 1
    for char in text:
        inner, edges = _gadget(char)
        after = size + inner
        for source, label, target in edges:
            source = before if source == 0 else after if source == 1 else size + source - 2
            target = before if target == 0 else after if target == 1 else size + target - 2
            sources += [source] * len(label)
            columns += label
            targets += [target] * len(label)
        before, size = after, after + 1
    if close_quote:
        sources.append(before)
        columns.append(ord('"'))
        targets.append(size)
        before, size = size, size + 1
    table = np.full((size, 256), -1, dtype=np.int32)
    table[sources, columns] = targets
    accepting = np.zeros(size, dtype=np.bool_)
    accepting[before] = True
    return ByteDFA(table, accepting)


def departures_dfa(pieces: Collection[tuple[str, bool]], universe: ByteDFA, *, open_quote: bool) -> ByteDFA:
    """The rest of a string literal that starts with none of ``pieces``.

    A piece is (characters, whether the closing quote follows them); pieces must start
    with distinct characters (or be the lone closing quote). With ``open_quote`` the text
    is a whole literal of ``universe`` (the minimal DFA of all JSON strings), otherwise
    what follows a prefix of characters, up to and including the closing quote. It is the
    ``other_literals_dfa`` graft with each piece's end cut: a piece that closes the
    literal loses its closing quote, any other loses everything after it.
    """
    builder = _SpellingTrie()
    for text, closes in pieces:
        node = builder.after_quote
        for char in text:
            node = builder.add_character(node, char)
        if closes:
            builder.end(node)
        else:
            builder.accepting.add(node)  # graft cuts the edges into an "accepting" node
    return builder.graft(universe, start=0 if open_quote else builder.after_quote)


@lru_cache(maxsize=4096)
def _gadget(char: str) -> tuple[int, tuple[tuple[int, bytes, int], ...]]:
    """``char``'s spellings as a trie from node 0 to node 1: (inner node count, edges).

    Inner nodes are numbered from 2; spellings sharing a prefix (``\\u00``) share nodes.
    """
    children: list[dict[bytes, int]] = [{}, {}]
    for spelling in character_spellings(char):
        at = 0
        for label in spelling[:-1]:
            if label not in children[at]:
                children[at][label] = len(children)
                children.append({})
            at = children[at][label]
        children[at][spelling[-1]] = 1
    edges = tuple((node, label, target) for node, out in enumerate(children) for label, target in out.items())
    return len(children) - 2, edges


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@lru_cache(maxsize=4096)
def character_spellings(char: str) -> tuple[Spelling, ...]:
    """Every way JSON writes ``char`` inside a string literal (cached: keys share characters)."""
    code = ord(char)
    spellings: list[Spelling] = []
    if code >= 0x20 and code not in MUST_ESCAPE:
        spellings.append(tuple(bytes([byte]) for byte in char.encode("utf-8")))
    if code in SHORT_ESCAPE_OF:
        spellings.append((b"\\", bytes([SHORT_ESCAPE_OF[code]])))
    if code <= 0xFFFF:
        spellings.append(_unicode_escape(code))
    else:
        high, low = divmod(code - 0x10000, 0x400)
        spellings.append(_unicode_escape(0xD800 + high) + _unicode_escape(0xDC00 + low))
    return tuple(spellings)


def _unicode_escape(code: int) -> Spelling:
    return (b"\\", b"u", *(HEX_BYTES[code >> shift & 0xF] for shift in (12, 8, 4, 0)))


class _SpellingTrie:
    """Nodes with edges labelled by byte classes; node 0 is before the opening quote.

    Every edge leads to a newer node (a character's node is made after the inner nodes
    of its spellings), so the nodes in reverse order of creation are a post-order.
    """

    def __init__(self) -> None:
        self.edges: list[dict[bytes, int]] = [{b'"': 1}, {}]
        self.accepting: set[int] = set()
        self.after_quote = 1
        self._decoded: dict[tuple[int, str], int] = {}  # (node, character) -> node after it

    def add_character(self, node: int, char: str) -> int:
        """The node after ``char`` read from ``node``, adding its spellings the first time."""
        found = self._decoded.get((node, char))
        if found is not None:
            return found
        edges = self.edges
        last_steps = []
        for spelling in character_spellings(char):
            at = node
            for label in spelling[:-1]:
                step = edges[at].get(label)
                if step is None:
                    step = edges[at][label] = len(edges)
                    edges.append({})
                at = step
            last_steps.append((at, spelling[-1]))
        target = len(edges)
        edges.append({})
        for at, label in last_steps:
            assert label not in edges[at], "spellings must be prefix-free"
            edges[at][label] = target
        self._decoded[(node, char)] = target
        return target

    def end(self, node: int) -> None:
        """``node`` ends a value: the closing quote leads to the accepting node."""
        if b'"' not in self.edges[node]:
            closed = len(self.edges)
            self.edges.append({})
            self.accepting.add(closed)
            self.edges[node][b'"'] = closed

    def _post_order(self) -> range:
        """Every node after all of its successors (all nodes are reachable from the start)."""
        return range(len(self.edges) - 1, -1, -1)

    def dfa(self) -> ByteDFA:
        """The minimal DFA: equivalent nodes merged bottom-up, numbered from the start.

        The spellings of one value form a minimal automaton already (each node is one
        point in one spelling of one character, with its own future), so one value is
        built without it (``_single_literal_dfa``); the tests compare the sizes with the
        general construction.
        """
        canonical = [0] * len(self.edges)
        signatures: dict[tuple, int] = {}
        representatives: list[int] = []
        for node in self._post_order():
            signature = (node in self.accepting, _edge_signature(self.edges[node], canonical))
            found = signatures.get(signature)
            if found is None:
                found = signatures[signature] = len(representatives)
                representatives.append(node)
            canonical[node] = found
        # Renumber so that the start (the last node finished) is state 0.
        start = canonical[0]
        order = [start, *(c for c in range(len(representatives)) if c != start)]
        rank = {old: new for new, old in enumerate(order)}
        state_of = [rank[c] for c in canonical]
        return self._table_dfa([representatives[c] for c in order], state_of)

    def _table_dfa(self, rows: list[int], state_of: list[int]) -> ByteDFA:
        """The DFA whose state ``i`` is node ``rows[i]``; ``state_of[node]`` maps every node."""
        sources, columns, targets = [], [], []
        for state, node in enumerate(rows):
            for label, target in self.edges[node].items():
                sources += [state] * len(label)
                columns += label
                targets += [state_of[target]] * len(label)
        table = np.full((len(rows), 256), -1, dtype=np.int32)
        table[sources, columns] = targets
        accepting = np.array([node in self.accepting for node in rows], dtype=np.bool_)
        return ByteDFA(table, accepting)

    def graft(self, universe: ByteDFA, *, start: int = 0) -> ByteDFA:
        """The universe's literals except this trie's: see the module docstring.

        A trie node's row is its universe state's row with the trie's edges written over
        it (a cut closing quote as no edge), so (universe state, edges by successor class)
        identifies the row without building it. ``start=after_quote`` gives what follows
        the opening quote instead (node 0 is left out: nothing leads back to it).
        """
        below = universe.transitions
        universe_state = self._universe_states(universe)
        canonical = [0] * len(self.edges)  # trie node -> its class (-1: an excluded value's end)
        representatives: list[int] = []  # class -> its first node
        signatures: dict[tuple, int] = {}
        for node in self._post_order():
            if node < start:
                break
            if node in self.accepting:
                canonical[node] = -1
                continue
            signature = (universe_state[node], _edge_signature(self.edges[node], canonical))
            found = signatures.get(signature)
            if found is None:
                found = signatures[signature] = len(representatives)
                representatives.append(node)
            canonical[node] = found
        # States: the trie classes, the start's first, then the universe's states after them,
        # its start last (nothing leads back to it, so dropping it renumbers nothing).
        k = len(representatives)
        first = canonical[start]
        state_of_class = [0 if c == first else c + 1 if c < first else c for c in range(k)]
        order = np.roll(np.arange(len(below)), -1)
        position = np.empty(len(below), dtype=np.int32)
        position[order] = k + np.arange(len(below), dtype=np.int32)
        table = np.empty((k + len(below), 256), dtype=np.int32)
        table[k:] = np.where(below >= 0, position[below], -1)[order]
        table[state_of_class] = table[position[[universe_state[node] for node in representatives]]]
        sources, columns, targets = [], [], []
        for cls, node in enumerate(representatives):
            for label, target in self.edges[node].items():
                sources += [state_of_class[cls]] * len(label)
                columns += label
                targets += [-1 if canonical[target] < 0 else state_of_class[canonical[target]]] * len(label)
        table[sources, columns] = targets
        accepting = np.concatenate([np.zeros(k, dtype=np.bool_), universe.accepting[order]])
        return _without_unreachable_universe(table, accepting, k)

    def _universe_states(self, universe: ByteDFA) -> list[int]:
        """The universe's state after the bytes leading to each trie node."""
        rows = _rows(universe)
        states = [0] * len(self.edges)
        for node, out in enumerate(self.edges):  # every node after its predecessors
            row = rows[states[node]]
            for label, target in out.items():
                step = row[label[0]]
                assert step >= 0 and (len(label) == 1 or all(row[b] == step for b in label)), (
                    "a byte class must act as one symbol"
                )
                states[target] = step
        return states


def _edge_signature(edges: dict[bytes, int], canonical: list[int]) -> tuple:
    """A node's edges as (successor class, its bytes) pairs in a canonical order."""
    if len(edges) == 1:
        ((label, target),) = edges.items()
        return ((canonical[target], label),)
    by_target: dict[int, bytes] = {}
    for label, target in edges.items():
        by_target[canonical[target]] = by_target.get(canonical[target], b"") + label
    return tuple(sorted((cls, bytes(sorted(label))) for cls, label in by_target.items()))


@lru_cache(maxsize=16)
def _rows(dfa: ByteDFA) -> list[list[int]]:
    """A (small, shared) automaton's table as lists, for stepping it byte by byte in Python."""
    return dfa.transitions.tolist()


def _without_unreachable_universe(table: np.ndarray, accepting: np.ndarray, k: int) -> ByteDFA:
    """Drop the universe states (ids from ``k``) that no path from state 0 reaches.

    The trie states are all reachable, so the search runs over the universe's few states,
    seeded with those the trie leads to.
    """
    head = table[:k]
    entered = np.zeros(len(table), dtype=np.bool_)
    entered[head[head >= k]] = True  # marking, not np.unique: no sort of the many copied cells
    seen = np.zeros(len(table), dtype=np.bool_)
    seen[:k] = True
    frontier = np.flatnonzero(entered[k:]) + k
    while frontier.size:
        seen[frontier] = True
        found = table[frontier].ravel()
        frontier = np.unique(found[(found >= 0) & ~seen[np.maximum(found, 0)]])
    if seen[:-1].all():  # at most the last state, the universe's start, is dropped
        return ByteDFA(table if seen[-1] else table[:-1], accepting if seen[-1] else accepting[:-1])
    new_id = np.where(seen, np.cumsum(seen) - 1, -1)
    kept = table[seen]
    return ByteDFA(np.where(kept >= 0, new_id[kept], -1), accepting[seen])
