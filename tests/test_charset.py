"""Code point sets, the classes regex dialects define, and their UTF-8 byte automata.

The references here share no code with ``constrain.charset``: Python's ``str``
predicates for the categories, ``re`` over every code point for case-insensitive items,
and Python's UTF-8 codec for the byte encodings.
"""

from __future__ import annotations

import functools
import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constrain.byte_dfa import ByteDFA
from constrain.charset import (
    ALL_SCALARS,
    ECMA_CATEGORIES,
    ECMA_DOT,
    CodepointSet,
    case_sensitive_codepoints,
    partition_codepoints,
    python_category,
)
from constrain.regex_parse import CharClass, parse_regex

SCALARS = np.concatenate([np.arange(0xD800), np.arange(0xE000, 0x110000)])
SCALAR_TEXT = SCALARS.astype("<u4").tobytes().decode("utf-32-le")


def members(cps: CodepointSet) -> np.ndarray:
    """Membership of every scalar value (indexed like SCALARS)."""
    mask = np.zeros(0x110000, dtype=bool)
    for lo, hi in cps.ranges:
        mask[lo : hi + 1] = True
    return mask[SCALARS]


def reference_members(predicate) -> np.ndarray:
    return np.array([predicate(c) for c in SCALAR_TEXT], dtype=bool)


def re_members(char_item: str) -> np.ndarray:
    """Which scalars ``re`` matches with a one-character item such as ``(?i)[a-z]``."""
    flags, body = re.fullmatch(r"(\(\?[a-z]+\))?(.*)", char_item, re.DOTALL).groups()
    mask = np.zeros(len(SCALAR_TEXT), dtype=bool)
    for match in re.finditer(f"{flags or ''}(?:{body})+", SCALAR_TEXT):
        mask[match.start() : match.end()] = True
    return mask


# --- CodepointSet algebra ------------------------------------------------------------

small_ranges = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40)).map(lambda t: (t[0], t[0] + t[1])))


@settings(max_examples=100, deadline=None)
@given(small_ranges, small_ranges)
def test_set_algebra_matches_python_sets(ranges_a, ranges_b):
    a, b = CodepointSet.from_ranges(ranges_a), CodepointSet.from_ranges(ranges_b)
    set_a = {c for lo, hi in ranges_a for c in range(lo, hi + 1)}
    set_b = {c for lo, hi in ranges_b for c in range(lo, hi + 1)}
    universe = range(400)
    assert {c for c in universe if c in a | b} == set_a | set_b
    assert {c for c in universe if c in a & b} == set_a & set_b
    assert {c for c in universe if c in a - b} == set_a - set_b
    assert {c for c in universe if c in a.complement()} == set(universe) - set_a
    assert len(a) == len(set_a)
    for lo, hi in (a | b).ranges:  # canonical: sorted, disjoint, not adjacent
        assert lo <= hi
    assert all(x[1] + 1 < y[0] for x, y in itertools.pairwise(a.ranges))


def test_surrogates_are_never_members():
    everything = CodepointSet.from_ranges([(0, 0x10FFFF)])
    assert everything == ALL_SCALARS
    assert 0xD800 not in everything and 0xDFFF not in everything
    assert CodepointSet.from_ranges([(0xD800, 0xDFFF)]).is_empty
    assert CodepointSet().complement() == ALL_SCALARS
    assert len(ALL_SCALARS) == 0x110000 - 0x800


def test_partition_into_atoms():
    a = CodepointSet.from_ranges([(0, 20)])
    b = CodepointSet.from_ranges([(10, 30), (50, 60)])
    atoms, masks = partition_codepoints([a, b, CodepointSet()])
    assert atoms == [
        CodepointSet.from_ranges([(0, 9)]),
        CodepointSet.from_ranges([(10, 20)]),
        CodepointSet.from_ranges([(21, 30), (50, 60)]),
    ]
    assert masks == {a: 0b011, b: 0b110}


# --- Categories ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "predicate"),
    [
        ("digit", str.isdecimal),
        ("word", lambda c: c.isalnum() or c == "_"),
        ("space", str.isspace),
    ],
)
def test_python_unicode_categories_match_str_predicates(name, predicate):
    assert np.array_equal(members(python_category(name)), reference_members(predicate))


def test_python_ascii_categories():
    assert python_category("digit", True) == CodepointSet.from_ranges([(48, 57)])
    assert python_category("word", True) == CodepointSet.from_ranges(
        [(48, 57), (65, 90), (95, 95), (97, 122)]
    )
    assert python_category("space", True) == CodepointSet.of(" ", "\t", "\n", "\r", "\f", "\v")


def test_ecma_categories_follow_the_spec_lists():
    spaces = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    spaces += "\u2028\u2029\u202f\u205f\u3000\ufeff"
    assert ECMA_CATEGORIES["space"] == CodepointSet.of(*spaces)
    assert ECMA_CATEGORIES["word"] == CodepointSet.of(
        *"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
    )
    assert ECMA_CATEGORIES["digit"] == CodepointSet.of(*"0123456789")
    assert CodepointSet.of("\n", "\r", "\u2028", "\u2029") == ALL_SCALARS - ECMA_DOT


# Each one-character item is compared with `re` over every scalar value.
CHARACTER_ITEMS = [
    r"(?i)k",
    r"(?i)s",
    r"(?i)\u00df",
    r"(?i)\u0130",
    r"(?i)\u03c3",
    r"(?i)\u01c5",
    r"(?i)\u1e9e",
    r"(?i)[^k]",
    r"(?i)[a-z]",
    r"(?i)[^a-z\d]",
    r"(?i)[\u00c0-\u024f]",
    r"(?i)[\w\u0130]",
    r"(?i)[\W\s_]",
    r"(?i)[\U00010400-\U0001044f]",
    r"(?ia)[k-s\u00e9]",
    r"(?ia)[^s]",
    r"(?a)[\w\s]",
    r"[^\D5]",
    r"(?s).",
    r".",
]


def test_extra_case_equivalences_relate_only_cased_characters():
    """The premise of deciding IGNORECASE by asking `re` about case-sensitive code points only."""
    from re import _casefix

    related = {c for lowered, extras in _casefix._EXTRA_CASES.items() for c in (lowered, *extras)}
    assert related and all(c in case_sensitive_codepoints() for c in related)


@pytest.mark.parametrize("item", CHARACTER_ITEMS)
def test_character_items_match_re_on_every_scalar(item):
    node = parse_regex(item)
    assert isinstance(node, CharClass)
    assert np.array_equal(members(node.chars), re_members(item))


# --- UTF-8 byte automata of a set ----------------------------------------------------


@functools.cache
def scalar_encoding_keys() -> np.ndarray:
    """Each scalar's UTF-8 encoding (by Python's codec) as one integer, length in the top bits."""
    data = np.frombuffer(SCALAR_TEXT.encode("utf-8"), dtype=np.uint8).astype(np.int64)
    starts = np.flatnonzero((data & 0xC0) != 0x80)
    lengths = np.diff(np.append(starts, len(data)))
    keys = np.zeros(len(starts), dtype=np.int64)
    for position in range(4):
        longer = lengths > position
        keys[longer] = keys[longer] << 8 | data[starts[longer] + position]
    return keys | lengths << 40


def language_keys(dfa: ByteDFA) -> np.ndarray:
    """Every byte string the DFA accepts (it must accept none longer than 4 bytes), keyed like above."""
    has_successor = (dfa.transitions >= 0).any(axis=1)
    keys, states, values = [], np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    for length in range(1, 5):
        alive = has_successor[states]
        successors = dfa.transitions[states[alive]]
        path, byte = np.nonzero(successors >= 0)
        states, values = successors[path, byte].astype(np.int64), values[alive][path] << 8 | byte
        keys.append(values[dfa.accepting[states]] | length << 40)
    assert not has_successor[states].any(), "a single-character DFA goes on past 4 bytes"
    return np.sort(np.concatenate(keys))


SETS = {
    "all": ALL_SCALARS,
    "ascii": CodepointSet.from_ranges([(0, 0x7F)]),
    "word": python_category("word"),
    "not word": python_category("word").complement(),
    "length boundaries": CodepointSet.from_ranges(
        [
            (0x7F, 0x80),
            (0x7FF, 0x800),
            (0xD7FF, 0xD7FF),
            (0xE000, 0xE000),
            (0xFFFF, 0x10000),
            (0x10FFFF, 0x10FFFF),
        ]
    ),
    "block edges": CodepointSet.from_ranges(
        [(0x3F, 0x41), (0xFC0, 0x1040), (0x3FFFF, 0x40000), (0xFFFC0, 0x100040), (0x1000, 0x1FFF)]
    ),
    "sparse": CodepointSet.from_ranges([(c, c) for c in range(0, 0x110000, 4099)]),
}


@pytest.mark.parametrize("name", SETS)
def test_from_codepoints_accepts_exactly_the_encodings(name):
    cps = SETS[name]
    dfa = ByteDFA.from_codepoints(cps)
    assert np.array_equal(language_keys(dfa), np.sort(scalar_encoding_keys()[members(cps)]))


@pytest.mark.parametrize(
    "invalid",
    [b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
     b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\x80",
     b"\xe2\x82", b"\xc3"],
)  # fmt: skip
def test_invalid_utf8_is_rejected(invalid):
    dfa = ByteDFA.from_codepoints(ALL_SCALARS)
    assert not dfa.matches(invalid)
    with pytest.raises(UnicodeDecodeError):
        invalid.decode("utf-8")
