"""Slices: precomputed masks for the inside of strings, where most of the vocabulary is allowed.

A trie walk from a lexer state inside a string reads nearly every token (128k of them, about
2 ms), and every string terminal of every schema has states of its own, so these walks made
most of the mask tail. A *slice* is a small automaton, the string characters up to some
length; for each vocabulary we precompute once the tokens it reads without dying (its mask)
and the trie of all the other tokens. From a lexer state that reads everything the slice
reads (``native.simulation.reads_all``, exact), a walk is the slice's mask plus a walk of that
small trie. The slice's tokens need no lexeme boundaries either: every token below such a
boundary that is not in the rest trie is in the mask already.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from constrain.byte_dfa import compile_regex_dfa
from constrain.native import TrieWalker
from constrain.token_trie import TokenTrie
from constrain.vocabulary import Vocabulary

# Characters of a JSON string body (no quote, backslash or control character): every string
# terminal we compile reads these, whatever its escapes. Tokens rarely hold more than 16
# characters, and a bound lets the slice serve strings with maxLength too.
STRING_CHARACTERS = r'[^"\\\x00-\x1f]{0,16}'
_SLICES: dict[str, tuple[Slice, ...]] = {}  # per vocabulary fingerprint


@dataclass(frozen=True, eq=False)
class Slice:
    transitions: np.ndarray  # int32 (n, 256) of the slice automaton, start state 0
    bits: np.ndarray  # uint32 mask words of the tokens it reads without dying
    rest: TrieWalker  # walks the trie of every other token
    rest_nodes: np.ndarray  # per node of that trie, the node with the same bytes in the full trie


def vocabulary_slices(vocab: Vocabulary, parents: np.ndarray) -> tuple[Slice, ...]:
    """The slices of ``vocab`` (whose trie has these ``parents``), built once per process: a full
    walk and a small trie each."""
    found = _SLICES.get(vocab.fingerprint)
    if found is None:
        found = _SLICES[vocab.fingerprint] = (_build_slice(STRING_CHARACTERS, vocab, parents),)
    return found


def _build_slice(pattern: str, vocab: Vocabulary, parents: np.ndarray) -> Slice:
    dfa = compile_regex_dfa(pattern)
    accepting = np.ones(dfa.n_states, dtype=np.bool_)
    bits = np.zeros((vocab.size + 31) // 32, dtype=np.uint32)
    TrieWalker(vocab.trie).walk(dfa.transitions, accepting, 0, bits)
    in_slice = np.zeros(vocab.size, dtype=np.bool_)
    in_slice[np.flatnonzero(np.unpackbits(bits.view(np.uint8), bitorder="little")[: vocab.size])] = True
    rest_bytes = [b"" if in_slice[token] else data for token, data in enumerate(vocab.token_bytes)]
    rest = TokenTrie.build(rest_bytes)
    return Slice(dfa.transitions, bits, TrieWalker(rest), _same_nodes(rest, vocab.trie, parents))


def _same_nodes(part: TokenTrie, whole: TokenTrie, parent: np.ndarray) -> np.ndarray:
    """Per node of ``part`` (a trie of some of ``whole``'s tokens), the node of ``whole`` that
    spells the same bytes: the ancestor, at the node's depth, of where a token below it ends."""
    if part.n_nodes == 1:
        return np.zeros(1, dtype=np.int32)
    leaf = part.subtree_end - 1  # the last node of a subtree is a leaf, and a token ends at every leaf
    node = whole.token_node[part.token_ids[part.token_start[leaf]]]
    while True:
        deeper = whole.node_depth[node] > part.node_depth
        if not deeper.any():
            return node.astype(np.int32)
        node = np.where(deeper, parent[node], node)
