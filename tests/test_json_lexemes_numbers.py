"""JSON number and integer lexemes against exact rational arithmetic on the parsed text."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constrain.errors import CompileBudgetError, SchemaError, UnsupportedSchemaError
from constrain.json_lexemes.numbers import json_integer_dfa, json_number_dfa

NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
KEYWORDS = ("minimum", "maximum", "exclusive_minimum", "exclusive_maximum")

BOUNDS = st.one_of(
    st.integers(-1000, 1000),
    st.sampled_from([0, 2**31, 2**64, -(2**63), 10**30, 1e300, -1e300]),
    st.sampled_from([0.5, 1.5, -273.15, 1e-3, 2.25, -0.1, 0.1, 99.99, -7.5, 1e-20]),
    st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False),
)
MULTIPLES = st.sampled_from([None, None, 1, 2, 3, 7, 10, 0.5, 2.5, 0.01, 0.25, 1e-3, 0.3, 12, Fraction(1, 3)])
MALFORMED = [
    "",
    "-",
    "01",
    "-01",
    "1.",
    ".5",
    "+1",
    "--1",
    "1e",
    "1e+",
    "0x10",
    "1 ",
    " 1",
    "1.2.3",
    "00",
    "-0-",
]


def exact(value) -> Fraction:
    """A keyword value as the decimal its JSON text spelled (floats via their repr)."""
    return Fraction(Decimal(repr(value))) if isinstance(value, float) else Fraction(value)


def in_range(value: Fraction, bounds: dict) -> bool:
    checks = {
        "minimum": lambda b: value >= b,
        "maximum": lambda b: value <= b,
        "exclusive_minimum": lambda b: value > b,
        "exclusive_maximum": lambda b: value < b,
    }
    return all(checks[name](exact(bound)) for name, bound in bounds.items())


def is_multiple(value: Fraction, multiple_of) -> bool:
    return multiple_of is None or (value / exact(multiple_of)).denominator == 1


def expected_number(text: str, bounds: dict, multiple_of) -> bool:
    """Syntax, range, multipleOf; exponent forms only where the sign alone decides (documented)."""
    if not NUMBER.fullmatch(text):
        return False
    value = Fraction(Decimal(text))
    if not (in_range(value, bounds) and is_multiple(value, multiple_of)):
        return False
    if "e" not in text.lower() or value == 0:
        return True
    if multiple_of is not None:
        return False
    lowers = [exact(bounds[k]) for k in ("minimum", "exclusive_minimum") if k in bounds]
    uppers = [exact(bounds[k]) for k in ("maximum", "exclusive_maximum") if k in bounds]
    if value > 0:
        return not uppers and all(b <= 0 for b in lowers)
    return not lowers and all(b >= 0 for b in uppers)


def expected_integer(text: str, bounds: dict, multiple_of) -> bool:
    if not INTEGER.fullmatch(text):
        return False
    value = Fraction(int(text))
    return in_range(value, bounds) and is_multiple(value, multiple_of)


@st.composite
def numerals(draw, anchors: list[Fraction]) -> str:
    """Numerals near the bounds (exact, just above, just below) and random ones."""
    kind = draw(st.sampled_from(["near", "near", "random", "integer", "malformed"]))
    if kind == "malformed":
        return draw(st.sampled_from(MALFORMED))
    if kind == "integer":
        return str(draw(st.integers(-(10**4), 10**4) | st.sampled_from([int(a) for a in anchors] or [0])))
    if kind == "near" and anchors:
        anchor = draw(st.sampled_from(anchors))
        delta = Fraction(draw(st.integers(-3, 3)), 10 ** draw(st.integers(0, 4)))
        text = decimal_text(anchor + delta)
    else:
        sign = draw(st.sampled_from(["", "-"]))
        integer = draw(st.sampled_from(["0", "1", "7", "12", "100", "999"]) | st.integers(0, 10**6).map(str))
        fraction = draw(st.sampled_from(["", ".0", ".5", ".25", ".01", ".001", ".333", ".10"]))
        text = sign + integer + fraction
    if draw(st.booleans()) and "." in text:
        text += "0" * draw(st.integers(1, 2))
    if draw(st.integers(0, 3)) == 0:
        text += draw(st.sampled_from(["e0", "E+2", "e-3", "e400", "e-400"]))
    return text


def decimal_text(value: Fraction) -> str:
    """The plain decimal numeral of a finite decimal (no exponent)."""
    scale = 0
    while (value * 10**scale).denominator != 1:
        scale += 1
    digits = str(abs(value * 10**scale).numerator).rjust(scale + 1, "0")
    text = digits if scale == 0 else f"{digits[:-scale]}.{digits[-scale:]}"
    return "-" + text if value < 0 else text


@st.composite
def keyword_sets(draw) -> tuple[dict, object]:
    names = draw(st.lists(st.sampled_from(KEYWORDS), unique=True, max_size=2))
    return {name: draw(BOUNDS) for name in names}, draw(MULTIPLES)


@settings(max_examples=100, deadline=None)
@given(keyword_sets(), st.data())
def test_numbers_match_exact_arithmetic(keywords, data):
    bounds, multiple_of = keywords
    dfa = json_number_dfa(**bounds, multiple_of=multiple_of)
    anchors = [exact(b) for b in bounds.values()]
    for _ in range(30):
        text = data.draw(numerals(anchors))
        assert dfa.matches(text.encode()) == expected_number(text, bounds, multiple_of), (
            bounds,
            multiple_of,
            text,
        )


@settings(max_examples=100, deadline=None)
@given(keyword_sets(), st.data())
def test_integers_match_exact_arithmetic(keywords, data):
    bounds, multiple_of = keywords
    dfa = json_integer_dfa(**bounds, multiple_of=multiple_of)
    anchors = [exact(b) for b in bounds.values()]
    for _ in range(30):
        text = data.draw(numerals(anchors))
        assert dfa.matches(text.encode()) == expected_integer(text, bounds, multiple_of), (
            bounds,
            multiple_of,
            text,
        )


@pytest.mark.parametrize(
    ("keywords", "accepted", "rejected"),
    [
        ({"minimum": 0.5}, ["1", "2"], ["0", "-0", "-1"]),
        ({"exclusive_minimum": 1, "maximum": 3}, ["2", "3"], ["1", "4"]),
        ({"maximum": 2**64}, [str(2**64), "-" + str(2**70)], [str(2**64 + 1)]),
        ({"minimum": 0, "maximum": 1e300}, ["1" + "0" * 300, "0", "-0"], ["1" + "0" * 299 + "1", "-1"]),
        ({"multiple_of": 2.5}, ["5", "-10", "0"], ["2", "3", "7"]),
        ({"multiple_of": 0.5}, ["1", "3", "-7"], ["1.0", "1e0"]),
        ({"minimum": 3, "maximum": 2}, [], ["2", "3"]),
    ],
)
def test_integer_examples(keywords, accepted, rejected):
    dfa = json_integer_dfa(**keywords)
    assert all(dfa.matches(text.encode()) for text in accepted)
    assert not any(dfa.matches(text.encode()) for text in rejected)


@pytest.mark.parametrize(
    ("keywords", "accepted", "rejected"),
    [
        ({}, ["0", "-0", "1.5e-7", "-2E+10", "0.000"], ["01", "1.", ".1", "+1", "NaN"]),
        ({"minimum": -273.15}, ["-273.15", "-273.150", "0", "1e9"], ["-273.151", "-273.16", "-1e2"]),
        ({"exclusive_minimum": 0}, ["1e-400", "0.0001", "5E3"], ["0", "-0", "0e5", "-1e-9"]),
        ({"maximum": 1e-3}, ["0.001", "0.0009", "-5", "-1e9"], ["0.0011", "1e-4", "1"]),
        ({"multiple_of": 0.01}, ["1.23", "1.230", "-0.5", "0e3", "7"], ["1.231", "1e-2", "0.001"]),
        ({"multiple_of": Fraction(1, 3)}, ["3", "4.0", "-9"], ["0.3333", "1.5"]),
        ({"minimum": 1, "maximum": 0}, [], ["0", "1"]),
    ],
)
def test_number_examples(keywords, accepted, rejected):
    dfa = json_number_dfa(**keywords)
    assert all(dfa.matches(text.encode()) for text in accepted)
    assert not any(dfa.matches(text.encode()) for text in rejected)


def test_huge_multiple_of_is_refused_naming_the_keyword():
    with pytest.raises(UnsupportedSchemaError, match="multipleOf"):
        json_integer_dfa(multiple_of=1_000_003)
    with pytest.raises(UnsupportedSchemaError, match="multipleOf"):
        json_integer_dfa(minimum=0, maximum=2**31, multiple_of=9_973)
    with pytest.raises(UnsupportedSchemaError, match="multipleOf"):
        json_number_dfa(multiple_of=Decimal("1.000003"))


def test_bad_keyword_values():
    for bad in (
        {"multiple_of": 0},
        {"multiple_of": -2},
        {"minimum": True},
        {"maximum": float("nan")},
        {"minimum": "1"},
    ):
        with pytest.raises(SchemaError):
            json_number_dfa(**bad)
    with pytest.raises(UnsupportedSchemaError, match="maximum"):
        json_number_dfa(maximum=Fraction(1, 3))


def test_huge_bounds_are_exact_or_refused_by_name():
    dfa = json_integer_dfa(maximum=10**5000)
    assert dfa.matches(b"1" + b"0" * 5000)
    assert not dfa.matches(b"1" + b"0" * 4999 + b"1")
    with pytest.raises(CompileBudgetError, match="minimum"):
        json_number_dfa(minimum=Decimal("1e999999999"))
    with pytest.raises(CompileBudgetError, match="exclusiveMaximum"):
        json_number_dfa(exclusive_maximum=Decimal("1e-50000"))
