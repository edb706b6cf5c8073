"""TokenTrie checked against a brute-force reading of its arrays on small and random vocabularies."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from constrain.token_trie import TokenTrie


def node_paths(trie: TokenTrie) -> list[bytes]:
    """The byte string spelled from the root to each node, read from depths alone (preorder)."""
    paths = [b""]
    ancestors = [0]
    for node in range(1, trie.n_nodes):
        depth = int(trie.node_depth[node])
        assert 1 <= depth <= len(ancestors), "a node is at most one level below the previous one"
        del ancestors[depth:]
        paths.append(paths[ancestors[-1]] + bytes([int(trie.node_byte[node])]))
        ancestors.append(node)
    return paths


def check_trie(tokens: list[bytes]) -> TokenTrie:
    trie = TokenTrie.build(tokens)
    n = trie.n_nodes
    assert trie.node_byte.dtype == np.uint8
    for name in ("node_depth", "subtree_end", "token_start", "token_ids", "token_node"):
        assert getattr(trie, name).dtype == np.int32, name
    assert trie.node_depth.shape == trie.subtree_end.shape == (n,)
    assert trie.token_start.shape == (n + 1,)
    assert trie.token_node.shape == (len(tokens),)
    assert trie.node_depth[0] == 0

    paths = node_paths(trie)
    assert len(set(paths)) == n, "every prefix has exactly one node"
    assert [len(path) for path in paths] == trie.node_depth.tolist()

    found: dict[int, bytes] = {}
    for node in range(n):
        for token_id in trie.token_ids[trie.token_start[node] : trie.token_start[node + 1]].tolist():
            assert token_id not in found
            found[token_id] = paths[node]
            assert trie.token_node[token_id] == node
    assert found == {i: data for i, data in enumerate(tokens) if data}
    assert all(trie.token_node[i] == -1 for i, data in enumerate(tokens) if not data)

    token_prefixes = {b""} | {data[:k] for data in tokens for k in range(len(data) + 1)}
    assert set(paths) == token_prefixes, "no node outside the tokens' prefixes"

    for node in range(n):
        end = node + 1
        while end < n and trie.node_depth[end] > trie.node_depth[node]:
            end += 1
        assert trie.subtree_end[node] == end
        children = [c for c in range(node + 1, end) if trie.node_depth[c] == trie.node_depth[node] + 1]
        child_bytes = trie.node_byte[children].tolist()
        assert child_bytes == sorted(set(child_bytes)), "children in increasing byte order"
    return trie


def test_small_vocabulary_with_shared_prefixes_duplicates_and_empty_entries():
    tokens = [b"a", b"ab", b"", b"b", b"ab", b"\x00", b"\x00\x00", b"abc" * 10, b"abc" * 10 + b"d", b"\xff"]
    trie = check_trie(tokens)
    # root; "abc"*10 then "d" (31 deep, covering "a" and "ab"); "b"; "\0\0" (2 deep); "\xff"
    assert trie.n_nodes == 1 + 31 + 1 + 2 + 1
    ab_node = trie.token_node[1]
    assert trie.token_node[4] == ab_node
    assert trie.token_ids[trie.token_start[ab_node] : trie.token_start[ab_node + 1]].tolist() == [1, 4]
    assert trie.subtree_end[0] == trie.n_nodes


def test_subtree_skip_jumps_over_the_whole_subtree():
    trie = check_trie([b"xa", b"xb", b"xbc", b"y"])
    x_node = 1
    assert trie.node_byte[x_node] == ord("x")
    y_node = int(trie.subtree_end[x_node])
    assert trie.node_byte[y_node] == ord("y") and trie.node_depth[y_node] == 1


def test_empty_and_all_blank_vocabularies_give_a_lone_root():
    for tokens in ([], [b"", b""]):
        trie = check_trie(tokens)
        assert trie.n_nodes == 1
        assert trie.token_ids.shape == (0,)


def test_long_shared_prefixes_beyond_one_comparison_block():
    base = bytes(range(256)) * 2
    tokens = [base, base + b"\x00", base[:-1], base[:100] + b"\xff", base[:17], base[:16], base[:15]]
    check_trie(tokens)


small_alphabet_bytes = st.lists(st.sampled_from([0, 1, 0x61, 0x62, 0xFF]), max_size=7).map(bytes)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(small_alphabet_bytes, st.binary(max_size=5)), max_size=40))
def test_random_vocabularies(tokens):
    check_trie(tokens)
