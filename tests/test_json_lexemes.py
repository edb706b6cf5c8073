"""JSON string lexemes against a reference: Python's json decoder plus direct checks of the keywords."""

from __future__ import annotations

import json
import re
import time
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constrain.byte_dfa import ByteDFA, compile_regex_dfa
from constrain.errors import CompileBudgetError, SchemaError, UnsupportedSchemaError
from constrain.json_lexemes import json_string_dfa, json_string_encodings, json_string_literal_dfa
from constrain.json_lexemes.escapes import unique_rows
from constrain.json_lexemes.formats import FORMAT_REGEXES

ASTRAL_PATTERN = "[\u0080-\u07ff][\u0800-\ud7ff\ue000-\uffff][\U00010000-\U0010ffff]"
# (keyword arguments, Python regex equivalent to the ECMA pattern or None, some valid values)
CONFIGS = [
    ({}, None, ["", "a"]),
    ({"min_length": 2}, None, ["ab", "😀😀"]),
    ({"max_length": 3}, None, ["abc", "\n"]),
    ({"min_length": 1, "max_length": 2}, None, ["x", "é\x00"]),
    ({"pattern": "^[a-z]+$"}, r"\A[a-z]+\Z", ["abc"]),
    ({"pattern": "é|😀", "max_length": 4}, "é|😀", ["é", "😀"]),
    ({"pattern": "a.c", "min_length": 3, "max_length": 5}, "a[^\n\r\u2028\u2029]c", ["abc", "a😀c"]),
    ({"pattern": '\\\\|"'}, r'\\|"', ["\\", '"']),
    ({"pattern": ASTRAL_PATTERN}, ASTRAL_PATTERN, ["é€😀", "\u07ff\ue000\U0010ffff"]),
    ({"format": "ipv4", "max_length": 9}, None, ["1.2.3.4", "0.0.0.0", "10.0.0.1"]),
    ({"format": "date"}, None, ["2024-02-29", "2023-12-31"]),
    ({"enum_of": ["a", "é", "\n", "😀", '"\\', ""]}, None, ["a", "é", "\n", "😀", '"\\', ""]),
]
ENCODING_TOKENS = [
    b'"',
    b"\\",
    b"u",
    b"a",
    b"z",
    b"0",
    b"9",
    b"d8",
    b"D8",
    b"3d",
    b"dc",
    b"DE",
    b"00",
    b"e9",
    b"n",
    b"/",
    b"x",
    b"\n",
    b"\x7f",
    "é".encode(),
    "😀".encode(),
    b"\xc3",
    b"\xa9",
    b"\xed\xa0\x80",
    b"\\u",
    b"\\ud83d",
]
DECODED_CHARS = st.one_of(
    st.sampled_from(list('abcz0 "\\/\n\t\x00\x1f\x7féß€\u2028\ud7ff\ue000\uffff😀\U00010000\U0010ffff')),
    st.characters(exclude_categories=("Cs",)),
)
SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


@cache
def config_dfa(index: int):
    return json_string_dfa(**CONFIGS[index][0])


def satisfies(index: int, value: str) -> bool:
    """The reference: the constraints of configuration ``index``, checked directly."""
    keywords, python_pattern, _ = CONFIGS[index]
    if len(value) < keywords.get("min_length", 0):
        return False
    if keywords.get("max_length") is not None and len(value) > keywords["max_length"]:
        return False
    if python_pattern is not None and not re.search(python_pattern, value):
        return False
    if "format" in keywords and not re.fullmatch(FORMAT_REGEXES[keywords["format"]], value):
        return False
    return "enum_of" not in keywords or value in keywords["enum_of"]


def reference_decode(text: bytes) -> str | None:
    """The value of a JSON text consisting of exactly one string literal, or None."""
    try:
        decoded = text.decode("utf-8")
        value = json.loads(decoded)
        value.encode("utf-8")  # lone surrogates have no UTF-8 form
    except (UnicodeError, ValueError, AttributeError):
        return None
    if not isinstance(value, str) or not decoded.startswith('"') or not decoded.endswith('"'):
        return None
    return value


@st.composite
def encodings(draw, value: str) -> bytes:
    """Some JSON literal of ``value``: each character raw or escaped, hex digits in random case."""
    out = ['"']
    for char in value:
        options = ["u"]
        if char not in '"\\' and ord(char) >= 0x20:
            options.append("raw")
        if char in SHORT_ESCAPES:
            options.append("short")
        how = draw(st.sampled_from(options))
        if how == "raw":
            out.append(char)
        elif how == "short":
            out.append(SHORT_ESCAPES[char])
        else:
            units = char.encode("utf-16-be")
            for i in range(0, len(units), 2):
                digits = f"{int.from_bytes(units[i : i + 2], 'big'):04x}"
                out.append("\\u" + "".join(d.upper() if draw(st.booleans()) else d for d in digits))
    out.append('"')
    return "".join(out).encode("utf-8")


def values_for(index: int) -> st.SearchStrategy[str]:
    """Random values, and valid examples of configuration ``index`` with random text around them."""
    text = st.text(DECODED_CHARS, max_size=6)
    short = st.text(DECODED_CHARS, max_size=1)
    around = st.tuples(short, st.sampled_from(CONFIGS[index][2]), short).map("".join)
    return st.one_of(text, around, st.sampled_from(CONFIGS[index][2]))


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(CONFIGS) - 1), st.data())
def test_encodings_of_random_values(index, data):
    value = data.draw(values_for(index))
    dfa = config_dfa(index)
    expected = satisfies(index, value)
    for text in (
        json.dumps(value).encode(),
        json.dumps(value, ensure_ascii=False).encode("utf-8"),
        data.draw(encodings(value)),
    ):
        assert reference_decode(text) == value
        assert dfa.matches(text) == expected, (CONFIGS[index][0], value, text)
        if expected:
            assert all(dfa.is_viable_prefix(text[:cut]) for cut in range(len(text)))


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_valid_examples_are_accepted(index):
    for value in CONFIGS[index][2]:
        assert satisfies(index, value)
        assert config_dfa(index).matches(json.dumps(value).encode())
        assert config_dfa(index).matches(json.dumps(value, ensure_ascii=False).encode())


@settings(max_examples=500, deadline=None)
@given(st.integers(0, len(CONFIGS) - 1), st.lists(st.sampled_from(ENCODING_TOKENS), max_size=12))
def test_random_byte_strings(index, tokens):
    text = b'"' + b"".join(tokens) + b'"'
    value = reference_decode(text)
    expected = value is not None and satisfies(index, value)
    assert config_dfa(index).matches(text) == expected, (CONFIGS[index][0], text)


@pytest.mark.parametrize(
    "text",
    [
        b'"\\ud800"',
        b'"\\udc00"',
        b'"\\ud800\\u0041"',
        b'"\\ud800\\ud800"',
        b'"\\udc00\\ud800"',
        b'"\\ud83d\\n"',
    ],
)
def test_lone_surrogates_are_rejected(text):
    assert not json_string_dfa().matches(text)


def test_surrogate_pairs_are_one_code_point():
    dfa = json_string_dfa(min_length=1, max_length=1)
    for text in (
        b'"\\ud83d\\ude00"',
        b'"\\uD83D\\uDE00"',
        '"😀"'.encode(),
        b'"\\udbff\\udfff"',
        b'"\\ud800\\udc00"',
    ):
        assert dfa.matches(text)
    assert not dfa.matches(b'"\\ud83d\\ude00\\ud83d\\ude00"')


@settings(max_examples=200, deadline=None)
@given(st.text(DECODED_CHARS, max_size=5), st.text(DECODED_CHARS, max_size=5), st.data())
def test_literal_dfa_accepts_exactly_its_value(value, other, data):
    dfa = json_string_literal_dfa(value)
    assert dfa.matches(data.draw(encodings(value)))
    assert dfa.matches(json.dumps(value).encode())
    assert dfa.matches(data.draw(encodings(other))) == (other == value)


def test_literal_with_lone_surrogate_is_refused():
    with pytest.raises(UnsupportedSchemaError, match="enum"):
        json_string_literal_dfa("a\ud800", keyword="enum")


def test_encodings_of_a_decoded_language_built_by_the_caller():
    decoded = compile_regex_dfa("[a-zé]+").difference(compile_regex_dfa("é|ab"))
    dfa = json_string_encodings(decoded)
    for value, expected in [
        ("a", True),
        ("ab", False),
        ("é", False),
        ("éé", True),
        ("", False),
        ("A", False),
    ]:
        assert dfa.matches(json.dumps(value).encode()) == expected
        assert dfa.matches(json.dumps(value, ensure_ascii=False).encode()) == expected


def test_contradictory_constraints_give_the_empty_language():
    assert json_string_dfa(min_length=3, max_length=2).is_empty
    assert json_string_dfa(pattern="^[a-z]{5}$", max_length=4).is_empty
    assert json_string_dfa(enum_of=[]).is_empty


@pytest.mark.parametrize(
    "keywords",
    [
        *(config[0] for config in CONFIGS),
        {"min_length": 4, "pattern": "é|a"},
        {"max_length": 5, "pattern": "b$"},
    ],
)
def test_automata_are_trimmed_and_minimal(keywords):
    """Both are claimed by construction (no minimization is run): check them independently."""
    dfa = json_string_dfa(**keywords)
    assert is_trimmed(dfa)
    assert dfa.minimize().n_states == dfa.n_states


def test_is_trimmed_detects_useless_states():
    table = np.full((3, 256), -1, dtype=np.int32)
    table[0, ord("a")] = 1
    table[0, ord("b")] = 2  # state 2 cannot reach acceptance
    assert not is_trimmed(ByteDFA(table, np.array([False, True, False])))
    just_a = np.where(table[:2] == 2, -1, table[:2])
    assert not is_trimmed(ByteDFA(just_a, np.array([False, False])))
    assert is_trimmed(ByteDFA(just_a, np.array([False, True])))


def is_trimmed(dfa) -> bool:
    """Every state reachable from state 0 and able to reach an accepting state."""
    forward = {0}
    stack = [0]
    while stack:
        for target in set(dfa.transitions[stack.pop()].tolist()) - {-1} - forward:
            forward.add(target)
            stack.append(target)
    backward = set(np.flatnonzero(dfa.accepting).tolist())
    grew = True
    while grew:
        has_live_successor = np.isin(dfa.transitions, list(backward)).any(axis=1)
        grown = backward | set(np.flatnonzero(has_live_successor).tolist())
        grew, backward = len(grown) > len(backward), grown
    return len(forward) == len(backward) == dfa.n_states


def test_unique_rows_matches_numpy():
    rows = np.random.default_rng(0).integers(-1, 4, size=(500, 3))
    unique, inverse = unique_rows(rows)
    expected = np.unique(rows, axis=0)
    assert sorted(map(tuple, unique)) == sorted(map(tuple, expected))
    assert (unique[inverse] == rows).all()


def test_large_max_length_fits_or_names_the_keyword():
    assert json_string_dfa(max_length=1000).matches(json.dumps("é" * 1000).encode())
    with pytest.raises(CompileBudgetError, match="maxLength"):
        json_string_dfa(max_length=10_000)
    with pytest.raises(CompileBudgetError, match="maxLength"):
        json_string_dfa(max_length=2000, pattern="[a-z]{3}[0-9]|x[a-f]+y", max_states=20_000)
    with pytest.raises(CompileBudgetError, match="minLength"):
        json_string_dfa(min_length=50_000)


def test_deadline_and_bad_keywords():
    with pytest.raises(CompileBudgetError):
        json_string_dfa(max_length=100, deadline=time.monotonic() - 1)
    with pytest.raises(SchemaError, match="maxLength"):
        json_string_dfa(max_length=-1)
    with pytest.raises(SchemaError, match="minLength"):
        json_string_dfa(min_length=True)
    with pytest.raises(UnsupportedSchemaError, match="format"):
        json_string_dfa(format="no-such-format")
    with pytest.raises(UnsupportedSchemaError, match="pattern"):
        json_string_dfa(pattern="(")
