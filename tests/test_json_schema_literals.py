"""The direct construction of string literals agrees with the general escape transducer.

``literals_dfa`` spells out the JSON escapings of finitely many strings (property names,
``enum``/``const``); ``json_string_encodings`` derives them from any decoded language.
Both are minimal DFAs of one language, so they must have equal languages and sizes.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from constrain.json_lexemes import json_string_dfa, json_string_encodings
from constrain.json_lexemes.automata import trie_dfa
from constrain.json_lexemes.literals import character_spellings, literals_dfa, other_literals_dfa

# Characters with every kind of spelling: plain, short escapes, must-escape, control,
# two- to four-byte UTF-8 (a surrogate pair), hex letters in the escape (U+00E9, U+FFFF).
CHARACTERS = 'aAz0"\\/\b\n\t\x01\x1f\x7fé€\uffff😀𝄞'
values = st.lists(st.text(alphabet=CHARACTERS, max_size=5), max_size=4)


def same_language(a, b) -> bool:
    return a.difference(b).is_empty and b.difference(a).is_empty


@settings(max_examples=150, deadline=None)
@given(values)
def test_literals_equal_the_encodings_of_their_values(strings: list[str]) -> None:
    direct = literals_dfa(strings)
    general = json_string_encodings(trie_dfa(s.encode("utf-8") for s in strings))
    assert same_language(direct, general)
    assert direct.n_states == general.n_states


@settings(max_examples=100, deadline=None)
@given(values, st.text(alphabet=CHARACTERS, max_size=5))
def test_literals_accept_python_spellings_and_reject_other_values(strings: list[str], other: str) -> None:
    dfa = literals_dfa(strings)
    for value in strings:
        assert dfa.matches(json.dumps(value).encode())
        assert dfa.matches(json.dumps(value, ensure_ascii=False).encode())
    assert dfa.matches(json.dumps(other).encode()) == (other in strings)


@settings(max_examples=100, deadline=None)
@given(values)
def test_other_literals_are_the_complement_within_all_strings(strings: list[str]) -> None:
    universe = json_string_dfa()
    direct = other_literals_dfa(strings, universe)
    general = universe.difference(literals_dfa(strings))
    assert same_language(direct, general)
    assert direct.n_states == general.n_states  # minimal too
    assert other_literals_dfa(["\ud800", *strings], universe).n_states == direct.n_states


def test_each_character_has_its_raw_short_and_unicode_spellings() -> None:
    assert len(character_spellings("a")) == 2  # a, \u0061
    assert len(character_spellings("\n")) == 2  # \n, \u000a
    assert len(character_spellings("/")) == 3  # /, \/, \u002f
    assert len(character_spellings('"')) == 2  # \", \u0022 (never raw)
    assert len(character_spellings("😀")) == 2  # raw UTF-8, surrogate pair
    assert literals_dfa([]).is_empty


def accepted(dfa, candidates: list[str]) -> list[str]:
    return [value for value in candidates if dfa.matches(json.dumps(value).encode())]


def test_enum_values_are_filtered_by_the_other_string_keywords() -> None:
    dfa = json_string_dfa(enum_of=["ab", "abc", "b", "2024-01-01"], min_length=2, pattern="^a")
    assert accepted(dfa, ["ab", "abc", "b", "2024-01-01"]) == ["ab", "abc"]
    dated = json_string_dfa(enum_of=["ab", "2024-01-01", "2024-13-01"], format="date")
    assert accepted(dated, ["ab", "2024-01-01", "2024-13-01"]) == ["2024-01-01"]
