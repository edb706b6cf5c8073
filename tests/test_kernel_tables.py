"""The boundary kernel's building blocks, checked against plain Python: its hash table, the trie
links it reads, the boundary filter, masks computed with too little room per trie depth, and
the size-bounded cache of walks shared across grammars."""

from __future__ import annotations

import numpy as np
from constrain.native import IntTable, readable_below, trie_child_bytes, trie_parents
from constrain.native.boundary_walk import EMPTY, _slot
from grammar_cases import ALL_CASES
from hypothesis import given, settings
from hypothesis import strategies as st

from constrain import Vocabulary, compile_grammar
from constrain.grammars import load_grammar
from constrain.token_automaton import SharedWalks, Walk
from constrain.token_trie import TokenTrie


def table_get(table: IntTable, key: int) -> int | None:
    slot = _slot(table.keys, np.int64(key))
    return None if table.keys[slot] == EMPTY else int(table.values[slot])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**62), st.integers(-1, 2**31 - 1)), max_size=300))
def test_int_table_behaves_like_a_dict(pairs):
    table, expected = IntTable(capacity=4), {}
    for key, value in pairs:
        table.put(key, value)
        expected[key] = value
    assert table.size == len(expected)
    for key, value in expected.items():
        assert table_get(table, key) == value
    assert table_get(table, 2**62 + 1) is None


def node_paths(trie: TokenTrie) -> list[bytes]:
    paths, ancestors = [b""], [0]
    for node in range(1, trie.n_nodes):
        del ancestors[int(trie.node_depth[node]) :]
        paths.append(paths[ancestors[-1]] + bytes([int(trie.node_byte[node])]))
        ancestors.append(node)
    return paths


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=5), min_size=1, max_size=40))
def test_parents_and_child_bytes_match_the_paths(tokens):
    trie = TokenTrie.build(tokens)
    paths = node_paths(trie)
    node_of = {path: node for node, path in enumerate(paths)}
    parents = trie_parents(trie)
    child_bytes = trie_child_bytes(trie, parents)
    assert parents[0] == -1
    for node in range(1, trie.n_nodes):
        assert parents[node] == node_of[paths[node][:-1]]
    for node, path in enumerate(paths):
        expected = {p[-1] for p in paths if len(p) == len(path) + 1 and p.startswith(path)}
        words = child_bytes[node]
        found = {b for b in range(256) if (int(words[b >> 6]) >> (b & 63)) & 1}
        assert found == expected


def test_readable_below_keeps_nodes_with_a_readable_child():
    trie = TokenTrie.build([b"ab", b"ac", b"bd", b"b"])
    paths = node_paths(trie)
    child_bytes = trie_child_bytes(trie, trie_parents(trie))
    transitions = np.full((2, 256), -1, dtype=np.int32)
    transitions[0, ord("c")] = 1  # state 0 reads only "c"
    nodes = np.array([paths.index(b"a"), paths.index(b"b")], dtype=np.int32)
    assert readable_below(nodes, child_bytes, transitions, 0).tolist() == [paths.index(b"a")]
    assert readable_below(nodes, child_bytes, transitions, 1).tolist() == []


def masks_along(compiled, tokens: list[int]) -> list[bytes]:
    automaton = compiled.automaton
    state, masks = automaton.initial, []
    for token in tokens:
        masks.append(automaton.mask(state).tobytes())
        state = automaton.advance(state, token)
        assert state >= 0
    masks.append(automaton.mask(state).tobytes())
    return masks


def test_masks_do_not_depend_on_the_room_the_kernel_starts_with():
    """With room for one thread per depth the kernel must ask for more and start over."""
    grew = 0
    for case in ALL_CASES:
        grammar = case.grammar or load_grammar(case.name)
        texts = [text.encode() for text in case.accept]
        pieces = sorted({text[i : i + n] for text in texts for n in (1, 2, 3, 6) for i in range(len(text))})
        vocab = Vocabulary.from_token_bytes([b"<eos>", *pieces], eos_token_ids=[0])
        roomy, cramped = compile_grammar(grammar, vocab), compile_grammar(grammar, vocab)
        cramped.automaton._room = 1
        for text in texts:
            tokens = [pieces.index(bytes([byte])) + 1 for byte in text]
            assert masks_along(cramped, tokens) == masks_along(roomy, tokens), (case.name, text)
        grew += cramped.automaton._room > 1
    assert grew >= 3


def walk_of(n_words: int, n_nodes: int) -> Walk:
    return Walk(np.zeros(n_words, np.uint32), ((0, np.zeros(n_nodes, np.int32)),))


def test_shared_walks_evict_the_least_recently_used_past_their_byte_budget():
    walks = SharedWalks(budget=3 * (1 + 40 + 40))  # three one-byte keys with 40 + 40 bytes of arrays
    for key in (b"a", b"b", b"c"):
        walks.put(key, walk_of(10, 10))
    assert walks.get(b"a") is not None  # now b is the least recently used
    walks.put(b"d", walk_of(10, 10))
    assert walks.get(b"b") is None
    assert all(walks.get(key) is not None for key in (b"a", b"c", b"d"))
    walks.put(b"e", walk_of(30, 0))  # 121 bytes: two walks must go
    assert len(walks) == 2 and walks.n_bytes <= walks.budget
    assert walks.get(b"e") is not None and walks.get(b"d") is not None
    walks.put(b"huge", walk_of(1000, 0))  # over budget alone: kept, as the only one
    assert len(walks) == 1 and walks.get(b"huge") is not None
