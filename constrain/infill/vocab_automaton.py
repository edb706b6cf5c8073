"""The minimal automaton of a vocabulary's token byte strings, which bounded holes chain.

``Hole(tokens=k)`` stands for every concatenation of ``k`` vocabulary tokens. Its automaton
is ``k`` copies of the automaton of the token set, glued at token ends. The set is finite,
so its minimal DFA is the token trie with equal subtrees merged; it is built bottom-up over
the trie's preorder arrays (children come after their parent), once per vocabulary.

Merging matters: a byte-level vocabulary's trie is a root with 256 leaves and becomes two
states, and real vocabularies shrink several-fold, since most tokens share their endings.
"""

from __future__ import annotations

from dataclasses import dataclass

from constrain.token_trie import TokenTrie
from constrain.vocabulary import Vocabulary

_CACHE: dict[str, VocabAutomaton] = {}


@dataclass(frozen=True)
class VocabEdge:
    """Reading any byte of ``mask`` (bit ``b`` = byte ``b``) leads to state ``target``."""

    mask: int
    target: int
    ends_token: bool  # the bytes read so far form a token
    continues: bool  # some longer token continues from ``target``


@dataclass(frozen=True, eq=False)
class VocabAutomaton:
    """States ``0..n-1``, 0 the root (no byte read); ``edges[s]`` grouped by target."""

    edges: tuple[tuple[VocabEdge, ...], ...]

    @property
    def n_states(self) -> int:
        return len(self.edges)


def vocab_automaton(vocab: Vocabulary) -> VocabAutomaton:
    """The (cached) minimal automaton of the vocabulary's non-empty token byte strings."""
    found = _CACHE.get(vocab.fingerprint)
    if found is None:
        found = _CACHE[vocab.fingerprint] = _build(vocab.trie)
    return found


def short_token_automaton(vocab: Vocabulary, max_length: int) -> VocabAutomaton:
    """The (cached) minimal automaton of the vocabulary's tokens of at most ``max_length`` bytes."""
    key = f"{vocab.fingerprint}/short{max_length}"
    found = _CACHE.get(key)
    if found is None:
        short = [data if len(data) <= max_length else b"" for data in vocab.token_bytes]
        found = _CACHE[key] = _build(TokenTrie.build(short))
    return found


def _build(trie: TokenTrie) -> VocabAutomaton:
    """Merge equal subtrees of the trie (equal signature: token end + arcs to merged children)."""
    n = trie.n_nodes
    node_byte = trie.node_byte.tolist()
    token_start = trie.token_start.tolist()
    children = _children(trie.subtree_end.tolist())
    class_of = [0] * n
    classes: dict[tuple[bool, tuple[tuple[int, int], ...]], int] = {}
    for node in range(n - 1, -1, -1):
        signature = (
            token_start[node + 1] > token_start[node],
            tuple((node_byte[c], class_of[c]) for c in children[node]),
        )
        class_of[node] = classes.setdefault(signature, len(classes))
    return _grouped(list(classes), class_of[0])


def _children(subtree_end: list[int]) -> list[list[int]]:
    """Each node's children in byte order: they follow it in preorder, one subtree after another."""
    children: list[list[int]] = [[] for _ in subtree_end]
    for node, end in enumerate(subtree_end):
        child = node + 1
        while child < end:
            children[node].append(child)
            child = subtree_end[child]
    return children


def _grouped(signatures: list[tuple[bool, tuple[tuple[int, int], ...]]], root: int) -> VocabAutomaton:
    """Renumber the classes with the root first and group each class's bytes by target."""
    order = [root] + [c for c in range(len(signatures)) if c != root]
    new_id = {old: new for new, old in enumerate(order)}
    outgoing = []
    for old in order:
        masks: dict[int, int] = {}
        for byte, child in signatures[old][1]:
            masks[child] = masks.get(child, 0) | (1 << byte)
        outgoing.append(
            tuple(
                VocabEdge(mask, new_id[child], signatures[child][0], bool(signatures[child][1]))
                for child, mask in masks.items()
            )
        )
    return VocabAutomaton(edges=tuple(outgoing))


def single_byte_automaton(mask: int) -> VocabAutomaton:
    """The automaton of the one-byte strings whose byte is in ``mask``."""
    return VocabAutomaton(edges=((VocabEdge(mask, 1, True, False),) if mask else (), ()))


def single_byte_tokens(automaton: VocabAutomaton) -> int:
    """The mask of the bytes that are tokens on their own."""
    mask = 0
    for arc in automaton.edges[0]:
        if arc.ends_token:
            mask |= arc.mask
    return mask
