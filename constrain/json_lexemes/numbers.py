"""JSON number lexemes (RFC 8259 §6) meeting ``minimum``/``maximum``/``exclusive*``/``multipleOf``.

Values are compared exactly, as decimals (bounds as in ``bounds.py``); a validator that
first parses the text into a double may disagree on texts beyond double precision
(``1e-400`` is > 0 here, 0.0 to such a validator).

What is accepted, and the documented restrictions (never accepting a wrong value):

* Integers (``json_integer_dfa``) are the plain-digit form ``-?(0|[1-9][0-9]*)``: JSON
  Schema counts ``1.0`` and ``1e2`` as integers, but they are not generated. ``-0`` is
  accepted exactly when 0 is allowed (it is the value 0).
* Numbers (``json_number_dfa``) use the full syntax; the exponent forms ``...e...`` are
  accepted only where the sign alone decides every constraint: zero mantissas (``0e5``,
  ``-0.0E-1``) when 0 is allowed; positive ones when every positive number is allowed
  (no upper bound, lower bound <= 0, no multipleOf); negative ones likewise. Whether
  ``d.ddd e k`` lies within a bound depends on comparing digit counts with the exponent,
  which no finite automaton can do for unbounded exponents.
* ``-0``, ``-0.0`` etc. have the value 0.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import numpy as np

from constrain.byte_dfa import ByteDFA, compile_regex_dfa
from constrain.errors import SchemaError, UnsupportedSchemaError
from constrain.json_lexemes.automata import EMPTY, table_dfa
from constrain.json_lexemes.bounds import (
    Bound,
    Interval,
    Number,
    decimal_digits,
    decimal_places,
    exact_value,
    interval_from_keywords,
)
from constrain.json_lexemes.decimal_automata import EQUAL, GREATER, LESS, MINUS, comparison_dfa, multiple_dfa

DEFAULT_MAX_STATES = 20_000

INTEGER_MAGNITUDE = "0|[1-9][0-9]*"
DECIMAL_MAGNITUDE = r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"
_EXPONENT = "[eE][+-]?[0-9]+"
ZERO_WITH_EXPONENT = rf"-?0(?:\.0+)?{_EXPONENT}"
POSITIVE_WITH_EXPONENT = rf"(?:[1-9][0-9]*(?:\.[0-9]+)?|0\.[0-9]*[1-9][0-9]*){_EXPONENT}"


def json_integer_dfa(
    minimum: Number | None = None,
    maximum: Number | None = None,
    exclusive_minimum: Number | None = None,
    exclusive_maximum: Number | None = None,
    multiple_of: Number | None = None,
    *,
    max_states: int = DEFAULT_MAX_STATES,
) -> ByteDFA:
    """Plain-digit integers ``-?(0|[1-9][0-9]*)`` meeting the keywords (bounds of any size or type).

    ``multipleOf: p/q`` (in lowest terms) keeps the integers divisible by ``p``: 0.5
    constrains nothing, 2.5 means multiples of 5. Raises UnsupportedSchemaError
    ("multipleOf") when the remainder automaton would exceed ``max_states``.
    """
    interval = interval_from_keywords(minimum, maximum, exclusive_minimum, exclusive_maximum)
    low, high = interval.integer_range()
    if low is not None and high is not None and low > high:
        return EMPTY
    integers = Interval(
        lower=None if low is None else Bound(Fraction(low), True, interval.lower.keyword),
        upper=None if high is None else Bound(Fraction(high), True, interval.upper.keyword),
    )
    multiple = None
    if multiple_of is not None:
        divisor = _positive(multiple_of).numerator
        multiple = None if divisor == 1 else (divisor, 0)
    return _signed_numerals(_syntax(INTEGER_MAGNITUDE), integers, multiple, max_states)


def json_number_dfa(
    minimum: Number | None = None,
    maximum: Number | None = None,
    exclusive_minimum: Number | None = None,
    exclusive_maximum: Number | None = None,
    multiple_of: Number | None = None,
    *,
    max_states: int = DEFAULT_MAX_STATES,
) -> ByteDFA:
    """RFC 8259 numbers whose exact value meets the keywords (exponent forms: see module doc).

    ``multipleOf`` is exact: a finite decimal ``M / 10**k`` keeps the numerals with at most
    ``k`` fraction digits once trailing zeros are dropped and whose digits, as an integer
    scaled to ``k`` fraction digits, are divisible by ``M`` (``0.01``: at most two
    significant fraction digits). Raises UnsupportedSchemaError ("multipleOf") past the
    state budget, and for a bound given as a Fraction without a finite decimal expansion.
    """
    interval = interval_from_keywords(minimum, maximum, exclusive_minimum, exclusive_maximum)
    multiple = None if multiple_of is None else _decimal_multiple(_positive(multiple_of))
    plain = _signed_numerals(_syntax(DECIMAL_MAGNITUDE), interval, multiple, max_states)
    parts = [plain]
    if interval.contains(Fraction(0)):
        parts.append(_syntax(ZERO_WITH_EXPONENT))
    if multiple is None and interval.contains_all_positive():
        parts.append(_syntax(POSITIVE_WITH_EXPONENT))
    if multiple is None and interval.negated().contains_all_positive():
        parts.append(_syntax("-" + POSITIVE_WITH_EXPONENT))
    result = parts[0]
    for part in parts[1:]:
        result = result.union(part)
    return result


@cache
def _syntax(regex: str) -> ByteDFA:
    return compile_regex_dfa(regex, "python")


def _positive(multiple_of: Number) -> Fraction:
    value = exact_value(multiple_of, "multipleOf")
    if value <= 0:
        raise SchemaError(f"multipleOf must be greater than 0, got {multiple_of!r}")
    return value


def _decimal_multiple(divisor: Fraction) -> tuple[int, int]:
    """``(M, k)`` such that the finite decimals that are multiples of ``divisor`` are those of M/10**k.

    For ``divisor = p/q`` the decimal multiples ``n*p/q`` need ``q``'s factors other than
    2 and 5 to divide ``n``, so they are the multiples of ``p / (q's 2-and-5 part)``.
    """
    other = divisor.denominator
    for prime in (2, 5):
        while other % prime == 0:
            other //= prime
    decimal_divisor = divisor * other
    scale = decimal_places(decimal_divisor)
    assert scale is not None  # the denominator has only factors 2 and 5 now
    return int(decimal_divisor * 10**scale), scale


def _signed_numerals(
    magnitude_syntax: ByteDFA, interval: Interval, multiple: tuple[int, int] | None, max_states: int
) -> ByteDFA:
    """Numerals ``-?magnitude`` in ``interval`` (and multiples of ``M/10**k`` if given)."""
    positive = _magnitudes(magnitude_syntax, interval, max_states)
    negative = _magnitudes(magnitude_syntax, interval.negated(), max_states)
    signed = _with_sign(positive, negative)
    if multiple is None or signed.is_empty:
        return signed
    multiples = multiple_dfa(*multiple, max_states=max_states)
    if multiples.n_states * signed.n_states > max_states:
        raise _unsupported_multiple(multiple, multiples.n_states * signed.n_states, max_states)
    return signed.intersect(multiples)


def _magnitudes(syntax: ByteDFA, interval: Interval, max_states: int) -> ByteDFA:
    """Magnitude numerals (no sign) whose value lies in ``interval``."""
    dfa = syntax
    upper, lower = interval.upper, interval.lower
    if upper is not None:
        if upper.value < 0 or (upper.value == 0 and not upper.inclusive):
            return EMPTY
        dfa = dfa.intersect(_bound_dfa(upper, {LESS, EQUAL} if upper.inclusive else {LESS}, max_states))
    if lower is not None and (lower.value > 0 or (lower.value == 0 and not lower.inclusive)):
        dfa = dfa.intersect(_bound_dfa(lower, {GREATER, EQUAL} if lower.inclusive else {GREATER}, max_states))
    return dfa


def _bound_dfa(bound: Bound, accepted: set[int], max_states: int) -> ByteDFA:
    # The comparison automaton has about 3 states per integer digit and 1 per fraction digit.
    integer, fraction = decimal_digits(abs(bound.value), bound.keyword, max_digits=max_states // 3)
    return comparison_dfa(integer, fraction, frozenset(accepted))


def _with_sign(positive: ByteDFA, negative: ByteDFA) -> ByteDFA:
    """``positive | "-" negative``: a new start state with positive's first row and a ``-`` edge."""
    n_positive = positive.n_states
    table = np.full((1 + n_positive + negative.n_states, 256), -1, dtype=np.int32)
    accepting = np.zeros(len(table), dtype=np.bool_)
    for offset, dfa in ((1, positive), (1 + n_positive, negative)):
        rows = slice(offset, offset + dfa.n_states)
        table[rows] = np.where(dfa.transitions >= 0, dfa.transitions + offset, -1)
        accepting[rows] = dfa.accepting
    if n_positive:
        table[0] = table[1]
        accepting[0] = positive.accepting[0]
    if negative.n_states:
        table[0, MINUS] = 1 + n_positive
    return table_dfa(table, accepting)


def _unsupported_multiple(multiple: tuple[int, int], estimate: int, max_states: int) -> Exception:
    modulus, scale = multiple
    return UnsupportedSchemaError(
        "multipleOf",
        f"multiples of {Fraction(modulus, 10**scale)} within the bounds need up to {estimate} states, "
        f"over the budget of {max_states}",
    )
