"""The vocabulary's token bytes as a trie in flat arrays, the shape the Numba mask kernels walk.

A mask kernel advances a byte automaton along the trie in depth-first preorder: when a node's
byte is rejected, every token below it is rejected too, and ``i = subtree_end[i]`` skips the
whole subtree in one step. Flat integer arrays (no Python objects) are what Numba can read.

The build never creates a Python object per node: in lexicographic order the byte strings
*are* the preorder of their trie, each string adding the nodes for the bytes past its common
prefix with the previous string. Everything else follows with vectorised numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_PREFIX_BLOCK = 16  # bytes compared per vectorised step when measuring common prefixes


@dataclass(frozen=True, eq=False)
class TokenTrie:
    """Trie of token byte strings in DFS preorder; children are in increasing byte order.

    Node 0 is the root (empty prefix). Nodes ``i .. subtree_end[i]-1`` are ``i``'s subtree.
    Tokens whose bytes end exactly at node ``i`` are ``token_ids[token_start[i]:token_start[i+1]]``
    (several ids may share the same bytes). ``token_node[t]`` is the node where token ``t``
    ends, or -1 for ids without text.
    """

    node_byte: np.ndarray  # uint8[n_nodes]; meaningless for the root
    node_depth: np.ndarray  # int32[n_nodes]
    subtree_end: np.ndarray  # int32[n_nodes]
    token_start: np.ndarray  # int32[n_nodes + 1]
    token_ids: np.ndarray  # int32[number of text tokens]
    token_node: np.ndarray  # int32[vocabulary size]

    @property
    def n_nodes(self) -> int:
        return int(self.node_byte.shape[0])

    @classmethod
    def build(cls, token_bytes: Sequence[bytes]) -> TokenTrie:
        """The trie of every non-empty entry of ``token_bytes`` (the index is the token id)."""
        text_ids = [token_id for token_id, data in enumerate(token_bytes) if data]
        by_bytes = sorted(text_ids, key=token_bytes.__getitem__)  # stable: equal bytes keep id order
        sorted_bytes = [token_bytes[token_id] for token_id in by_bytes]
        is_new = [True] * len(sorted_bytes)
        for k in range(1, len(sorted_bytes)):
            is_new[k] = sorted_bytes[k] != sorted_bytes[k - 1]
        distinct = [data for data, new in zip(sorted_bytes, is_new, strict=True) if new]
        string_of_token = np.cumsum(np.array(is_new, dtype=np.int64)) - 1

        blob = np.frombuffer(b"".join(distinct), dtype=np.uint8)
        lengths = np.fromiter((len(data) for data in distinct), dtype=np.int64, count=len(distinct))
        offsets = _exclusive_cumsum(lengths)
        common = _adjacent_common_prefix(blob, offsets, lengths)

        node_byte, node_depth, first_node = _nodes_in_preorder(blob, offsets, lengths, common)
        parent = _parents(node_depth)
        subtree_end = _subtree_ends(node_depth, parent)

        end_node_of_string = first_node + (lengths - common) - 1
        token_node = np.full(len(token_bytes), -1, dtype=np.int32)
        token_ids = np.array(by_bytes, dtype=np.int32)
        token_node[token_ids] = end_node_of_string[string_of_token]
        ends_here = np.bincount(token_node[token_ids], minlength=node_byte.shape[0])
        token_start = np.concatenate(([0], np.cumsum(ends_here))).astype(np.int32)
        return cls(
            node_byte=node_byte,
            node_depth=node_depth.astype(np.int32),
            subtree_end=subtree_end.astype(np.int32),
            token_start=token_start,
            token_ids=token_ids,
            token_node=token_node,
        )


def _exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(values)[:-1])).astype(np.int64) if values.size else values


def _adjacent_common_prefix(blob: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``common[k]`` = length of the common prefix of distinct sorted strings ``k-1`` and ``k``.

    ``common[0]`` is 0 (the first string shares only the root). Strings are compared a block of
    columns at a time, keeping only the pairs still equal so far, so long tokens cost nothing
    unless they really share long prefixes.
    """
    common = np.zeros(lengths.shape[0], dtype=np.int64)
    pending = np.arange(1, lengths.shape[0])
    wide_blob = blob.astype(np.int16)
    start = 0
    while pending.size:
        columns = start + np.arange(_PREFIX_BLOCK)
        left = _block_of_bytes(wide_blob, offsets, lengths, pending - 1, columns, past_end=-1)
        right = _block_of_bytes(wide_blob, offsets, lengths, pending, columns, past_end=-2)
        differs = left != right
        resolved = differs.any(axis=1)
        common[pending[resolved]] = start + differs[resolved].argmax(axis=1)
        pending = pending[~resolved]
        start += _PREFIX_BLOCK
    return common


def _block_of_bytes(
    wide_blob: np.ndarray,
    offsets: np.ndarray,
    lengths: np.ndarray,
    strings: np.ndarray,
    columns: np.ndarray,
    past_end: int,
) -> np.ndarray:
    """Bytes ``columns`` of each of ``strings``, with ``past_end`` where a string is shorter."""
    inside = columns[None, :] < lengths[strings, None]
    positions = np.minimum(offsets[strings, None] + columns[None, :], wide_blob.shape[0] - 1)
    return np.where(inside, wide_blob[positions], past_end)


def _nodes_in_preorder(
    blob: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, common: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte and depth of every node, and the first node each distinct string adds.

    String ``k`` adds one node per byte past ``common[k]``: depths ``common[k]+1 .. len``.
    """
    added = lengths - common
    first_node = 1 + _exclusive_cumsum(added)
    string_of_node = np.repeat(np.arange(lengths.shape[0]), added)
    rank_in_string = np.arange(string_of_node.shape[0]) - np.repeat(first_node - 1, added)
    depth = common[string_of_node] + rank_in_string + 1
    node_byte = np.concatenate(([0], blob[offsets[string_of_node] + depth - 1])).astype(np.uint8)
    node_depth = np.concatenate(([0], depth)).astype(np.int64)
    return node_byte, node_depth, first_node


def _parents(node_depth: np.ndarray) -> np.ndarray:
    """Parent of each node: in preorder, the last earlier node one level up (root: -1).

    Keys ``depth * n + position`` sort nodes by level, then position; one binary search per
    node finds the greatest key below ``(depth - 1) * n + position``.
    """
    n_nodes = node_depth.shape[0]
    positions = np.arange(n_nodes, dtype=np.int64)
    by_level = np.argsort(node_depth, kind="stable")
    level_keys = node_depth[by_level] * n_nodes + by_level
    queries = (node_depth - 1) * n_nodes + positions
    parent = by_level[np.searchsorted(level_keys, queries) - 1]
    parent[0] = -1
    return parent


def _subtree_ends(node_depth: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """One past the last node of each subtree, computed level by level from the root down.

    A node's subtree ends where its next sibling starts; the last child's ends where its
    parent's does.
    """
    n_nodes = node_depth.shape[0]
    subtree_end = np.empty(n_nodes, dtype=np.int64)
    subtree_end[0] = n_nodes
    by_level = np.argsort(node_depth, kind="stable")
    level_bounds = np.searchsorted(node_depth[by_level], np.arange(int(node_depth.max()) + 2))
    for depth in range(1, level_bounds.shape[0] - 1):
        level = by_level[level_bounds[depth] : level_bounds[depth + 1]]
        level_parent = parent[level]
        has_next_sibling = np.zeros(level.shape[0], dtype=bool)
        has_next_sibling[:-1] = level_parent[1:] == level_parent[:-1]
        next_sibling = np.roll(level, -1)
        subtree_end[level] = np.where(has_next_sibling, next_sibling, subtree_end[level_parent])
    return subtree_end
