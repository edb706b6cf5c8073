"""The parser's states are finite where the language's structure is: charts that differ only
in where their items started (a chain of atoms, a run of signs) must be one state, or every
new position of a cold mask builds charts anew."""

from __future__ import annotations

import pytest

from constrain import Vocabulary, compile_grammar
from constrain.grammars import load_grammar

VOCAB = Vocabulary.from_token_bytes([b"<eos>", *(bytes([b]) for b in range(32, 127))], eos_token_ids=[0])

RIGHT_RECURSIVE = """
start: expr
expr: SIGN expr | NOT expr | atom
atom: NAME | "(" expr ")"
SIGN: "-" | "+"
NOT: "!"
NAME: /[a-z]+/
"""


def charts_after(grammar: str, text: bytes) -> int:
    automaton = compile_grammar(grammar, VOCAB).automaton
    assert automaton.advance_bytes(automaton.initial, text) >= 0
    return len(automaton.parser._waiting)


@pytest.mark.parametrize(
    ("grammar", "prefix", "unit"),
    [
        (load_grammar("smiles"), b"", b"C"),  # left-recursive chain: the chart names the one before it
        (load_grammar("smiles"), b"", b"C(=O)"),
        (RIGHT_RECURSIVE, b"", b"-"),  # right recursion: each sign nests once more
        (RIGHT_RECURSIVE, b"", b"+!"),
        (load_grammar("sql"), b"SELECT a FROM t WHERE ", b"NOT "),
        (load_grammar("sql"), b"SELECT a FROM t WHERE b = ", b"- "),
    ],
    ids=["smiles-atoms", "smiles-branches", "signs", "signs-and-nots", "sql-not", "sql-minus"],
)
def test_repeating_a_unit_stops_adding_charts(grammar, prefix, unit):
    short = charts_after(grammar, prefix + unit * 8)
    assert charts_after(grammar, prefix + unit * 40) == short


def test_nesting_that_must_be_counted_still_adds_charts():
    """Open parentheses must each be closed: these states differ, and merging them would be wrong."""
    assert charts_after(RIGHT_RECURSIVE, b"(" * 12) > charts_after(RIGHT_RECURSIVE, b"(" * 6)
