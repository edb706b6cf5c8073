"""String formulas built from decoded values and quoted once, against two references.

``ScalarAutomata.string_dfa`` combines the decoded automata of a formula's ``StringAtom``s
and escapes the result once. The references: the same formula combined from each
atom's quoted automaton (the direct route), and a brute-force evaluation of the formula
on the decoded value of JSON texts.
"""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constrain.byte_dfa import ByteDFA, compile_regex_dfa
from constrain.json_lexemes import json_string_dfa, json_string_encodings
from constrain.json_lexemes.automata import finite_words, trie_dfa
from constrain.json_lexemes.utf8 import utf8_table
from constrain.json_schema.context import Context, Options
from constrain.json_schema.nodes import NOTHING, And, Formula, Not, Or, StringAtom, conjoin, disjoin, negate
from constrain.json_schema.scalars import ScalarAutomata

ATOMS = [
    StringAtom(pattern="^a"),
    StringAtom(pattern="b+$"),
    StringAtom(pattern="[0-9]"),
    StringAtom(pattern="\u00e9|\U0001f600"),
    StringAtom(min_length=2),
    StringAtom(max_length=3),
    StringAtom(min_length=1, max_length=2, pattern='^[ab"\\\\]'),
]
UTF8 = ByteDFA(*utf8_table())
TEXTS = ["", "a", "ab", "abb", "b", "a1", "9", "\u00e9", "a\U0001f600", 'a"', "\\", "aaaa", "bbbbb", "a\n"]


def formulas() -> st.SearchStrategy[Formula]:
    atoms = st.sampled_from(ATOMS)
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda parts: conjoin(*parts)),
            st.lists(inner, min_size=1, max_size=3).map(lambda parts: disjoin(*parts)),
            inner.map(negate),
        ),
        max_leaves=5,
    )


def holds(formula: Formula, value: str) -> bool:
    """The formula's meaning on a decoded string (lengths count code points)."""
    if isinstance(formula, And):
        return all(holds(part, value) for part in formula.parts)
    if isinstance(formula, Or):
        return any(holds(part, value) for part in formula.parts)
    if isinstance(formula, Not):
        return not holds(formula.part, value)
    assert isinstance(formula, StringAtom)
    too_long = formula.max_length is not None and len(value) > formula.max_length
    if len(value) < formula.min_length or too_long:
        return False
    return formula.pattern is None or re.search(formula.pattern, value) is not None


def quoted_route(formula: Formula) -> ByteDFA:
    """The formula combined from quoted automata (the route taken before quoting once)."""
    universe = json_string_dfa()
    if isinstance(formula, And):
        result = universe
        for part in formula.parts:
            result = result.intersect(quoted_route(part))
        return result
    if isinstance(formula, Or):
        parts = [quoted_route(part) for part in formula.parts]
        result = parts[0]
        for part in parts[1:]:
            result = result.union(part)
        return result
    if isinstance(formula, Not):
        return universe.difference(quoted_route(formula.part))
    assert isinstance(formula, StringAtom)
    return json_string_dfa(
        min_length=formula.min_length, max_length=formula.max_length, pattern=formula.pattern
    )


def scalars() -> ScalarAutomata:
    return ScalarAutomata(Context(Options(), lambda pointer: NOTHING))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas())
def test_quoting_once_agrees_with_combining_quoted_automata(formula):
    automata = scalars()
    dfa = automata.string_dfa(formula)
    reference = quoted_route(formula)
    assert dfa.difference(reference).is_empty and reference.difference(dfa).is_empty
    assert dfa.n_states == reference.n_states  # both minimal
    assert automata.string_is_empty(formula) == reference.is_empty
    for value in TEXTS:
        spellings = {json.dumps(value), json.dumps(value, ensure_ascii=False)}
        for text in spellings:
            assert dfa.matches(text.encode()) == holds(formula, value), (formula, text)


def test_a_combination_of_atoms_is_quoted_once():
    """``Or`` of two patterns: the quoted result, and its emptiness without quoting at all."""
    automata = scalars()
    either = Or((ATOMS[0], ATOMS[1]))
    dfa = automata.string_dfa(either)
    assert dfa.matches(b'"abc"') and dfa.matches(b'"\\u0061"') and dfa.matches(b'"xb"')
    assert not dfa.matches(b'"ba"')
    assert automata.string_is_empty(And((StringAtom(min_length=3), StringAtom(max_length=2))))
    assert not automata.string_is_empty(either)


KEY_CLASSES = [
    trie_dfa([b"id"]),
    trie_dfa([b"a", b"ab", "\u00e9t\u00e9".encode(), b""]),
    UTF8.difference(trie_dfa([b"billing_id", b"project_id", "\U0001f600".encode()])),
    UTF8.difference(trie_dfa([])),
    compile_regex_dfa("^x-", "ecma", search=True),
]


def test_key_classes_spelled_out_are_their_escaped_values():
    """Finite and co-finite key classes are spelled out (``literals``), others escaped."""
    automata = scalars()
    for decoded in KEY_CLASSES:
        dfa = automata.encoded(decoded, "")
        reference = json_string_encodings(decoded)
        assert dfa.n_states == reference.n_states  # both minimal
        assert dfa.difference(reference).is_empty and reference.difference(dfa).is_empty


def test_finite_words_enumerates_finite_languages_only():
    words = [b"", b"a", b"ab", "\u00e9".encode()]
    assert sorted(finite_words(trie_dfa(words), 4)) == sorted(words)
    assert finite_words(trie_dfa(words), 3) is None  # more words than the limit
    assert finite_words(compile_regex_dfa("a+b?"), 100) is None  # a cycle
    assert finite_words(trie_dfa([]), 0) == []
