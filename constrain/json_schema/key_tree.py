"""Property names spelled piece by piece along their radix tree, for objects with many keys.

Written as one terminal per name, the keys an object may take next are all expected at
once: after each member the lexer must run the automata of every later optional key and
of "any other key" (all JSON strings but the declared names) in lockstep, and that
product has about as many states as the spellings of all the names together (six per
character: raw and ``\\uXXXX``, hex digits in either case). A schema with 100 optional
properties in declaration order builds such a product after every comma, a different
one each time since the set of later keys shrinks.

Here the names are cut at the branch points of their trie (over characters, the closing
quote counting as one): a declared name is the sequence of edge *pieces* on its path, and
an undeclared name walks any edges and then *departs* at a node with a rest that starts
with none of the node's pieces (``literals.departures_dfa``). At every point the lexer
expects only the pieces of one node and its departure, whatever the object's other
members; their products are small and the same after every comma.

Exactness: pieces leaving a node start with distinct characters (or are the lone
closing quote), so a literal's decoded characters determine its path; a literal is a
declared name iff its path ends with a closing piece, and otherwise it leaves the tree
at exactly one node, where the departure terminal takes its rest. So the undeclared
route is exactly "every string literal but the declared names", as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from constrain.ir import NonTerminal, Terminal

if TYPE_CHECKING:
    from constrain.json_schema.to_grammar import GrammarBuilder

ROOT = 0


@dataclass(frozen=True)
class Piece:
    """An edge of the tree: characters, whether the closing quote ends them, and the node
    they lead to (None after the closing quote)."""

    text: str
    closes: bool
    child: int | None


@dataclass
class KeyTree:
    """The radix tree of a set of names: ``pieces[node]`` leave ``node``; node 0 is the root,
    right after the opening quote."""

    pieces: list[list[Piece]] = field(default_factory=list)

    def path(self, key: str) -> list[tuple[int, Piece]]:
        """The (node, piece) steps that spell ``key``, which must be in the tree."""
        steps, node, rest = [], ROOT, key
        while True:
            piece = next(p for p in self.pieces[node] if _starts(rest, p))
            steps.append((node, piece))
            if piece.closes:
                return steps
            rest, node = rest[len(piece.text) :], piece.child
            assert node is not None


def _starts(rest: str, piece: Piece) -> bool:
    return rest == piece.text if piece.closes else rest.startswith(piece.text)


def key_tree(keys: Iterable[str]) -> KeyTree:
    """The radix tree of ``keys`` (at least one): character tries with one-child chains merged."""
    trie: list[dict[str, int]] = [{}]  # child per character; "" is the closing quote
    for key in keys:
        node = ROOT
        for char in [*key, ""]:
            if char not in trie[node]:
                trie[node][char] = len(trie)
                trie.append({})
            node = trie[node][char]
    tree = KeyTree()
    numbering = {ROOT: 0}
    tree.pieces.append([])
    todo = [ROOT]
    while todo:
        node = todo.pop()
        for char, target in trie[node].items():
            text = char
            while char and len(trie[target]) == 1:
                char, target = next(iter(trie[target].items()))
                text += char
            closes = not char
            child = None
            if not closes:
                child = numbering[target] = len(tree.pieces)
                tree.pieces.append([])
                todo.append(target)
            tree.pieces[numbering[node]].append(Piece(text, closes, child))
    return tree


def tree_of(builder: GrammarBuilder, keys: frozenset[str]) -> KeyTree:
    """The tree of ``keys``, built once per compilation."""
    cache_key = ("key tree", keys)
    if cache_key not in builder.cache:
        builder.cache[cache_key] = key_tree(sorted(keys))
    return builder.cache[cache_key]


def piece_terminal(builder: GrammarBuilder, node: int, piece: Piece) -> Terminal:
    """The terminal of one piece; shared by every object whose tree has it at the same depth
    class (right after the opening quote or not)."""
    opens = node == ROOT
    terminal = builder.terminal(
        ("key piece", opens, piece.text, piece.closes),
        "KEY",
        lambda: builder.scalars.key_piece_dfa(piece.text, opens=opens, closes=piece.closes),
    )
    assert terminal is not None
    return terminal


def key_symbols(builder: GrammarBuilder, keys: frozenset[str], key: str) -> tuple[Terminal, ...]:
    """The piece terminals that spell ``key``, one of the declared names ``keys``."""
    tree = tree_of(builder, keys)
    return tuple(piece_terminal(builder, node, piece) for node, piece in tree.path(key))


def undeclared_key(builder: GrammarBuilder, keys: frozenset[str]) -> NonTerminal:
    """A nonterminal for every string literal that is none of the declared names ``keys``."""
    cache_key = ("undeclared keys", keys)
    if cache_key not in builder.cache:
        builder.cache[cache_key] = _undeclared_rules(builder, tree_of(builder, keys))
    return builder.cache[cache_key]


def _undeclared_rules(builder: GrammarBuilder, tree: KeyTree) -> NonTerminal:
    at = [NonTerminal(builder.fresh("other_key")) for _ in tree.pieces]
    for node, pieces in enumerate(tree.pieces):
        shapes = tuple((piece.text, piece.closes) for piece in pieces)
        opens = node == ROOT
        departure = builder.terminal(
            ("key departures", opens, shapes),
            "KEYS",
            lambda shapes=shapes, opens=opens: builder.scalars.key_departures_dfa(shapes, opens=opens),
        )
        if departure is not None:
            builder.rule(at[node], departure)
        for piece in pieces:
            if piece.child is not None:
                builder.rule(at[node], piece_terminal(builder, node, piece), at[piece.child])
    return at[ROOT]
