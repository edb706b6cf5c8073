"""Exact values of the numeric keywords, and the interval they describe.

Every comparison in this package is done on exact rationals so that a bound like
``1e300`` or ``2**64`` is neither rounded nor overflowed. A float keyword value is read
as its shortest decimal representation (``repr``), which is the number the schema's
JSON text spelled: ``0.1`` means one tenth, not the double closest to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

from constrain.errors import CompileBudgetError, SchemaError, UnsupportedSchemaError

Number = int | float | Decimal | Fraction
# Beyond this many digits no automaton comparing digit by digit fits any budget.
MAX_DECIMAL_EXPONENT = 100_000


def exact_value(value: object, keyword: str) -> Fraction:
    """``value`` as an exact rational; SchemaError if it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | Fraction):
        raise SchemaError(f"{keyword} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(f"{keyword} must be finite, got {value!r}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise SchemaError(f"{keyword} must be finite, got {value!r}")
    if isinstance(value, Decimal) and abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise CompileBudgetError(f"{keyword}={value}: too many digits to compare exactly")
    if isinstance(value, float):
        return Fraction(Decimal(repr(value)))
    return Fraction(value)


def decimal_digits(value: Fraction, keyword: str, max_digits: int) -> tuple[str, str]:
    """The integer and fractional digits of ``value >= 0`` (``"0"`` and ``""`` at least).

    The fractional digits carry no trailing zeros. Values with no finite decimal
    expansion (only possible when a caller passes a Fraction) cannot be compared digit
    by digit and are refused; so are values of more than about ``max_digits`` digits
    (CompileBudgetError naming ``keyword``).
    """
    # A finite decimal needs at least log10(denominator) fraction digits: check before factoring.
    n_digits = int((value.numerator.bit_length() + value.denominator.bit_length()) * math.log10(2))
    scale = decimal_places(value) if n_digits <= max_digits else 0
    if scale is None:
        raise UnsupportedSchemaError(keyword, f"{short_text(value)} has no finite decimal expansion")
    n_digits = max(n_digits, int(value.numerator.bit_length() * math.log10(2)) + scale)
    if n_digits > max_digits:
        raise CompileBudgetError(
            f"{keyword}={short_text(value)} has about {n_digits} digits, too many to compare exactly "
            f"within the state budget"
        )
    # Decimal's str has no limit on digits (int's str refuses more than 4300 by default).
    digits = str(Decimal(value.numerator * 10**scale // value.denominator)).rjust(scale + 1, "0")
    if scale == 0:
        return digits, ""
    return digits[:-scale], digits[-scale:].rstrip("0")


def short_text(value: Fraction) -> str:
    """``value`` in at most 8 significant digits, for messages (huge values have huge exact texts)."""
    with localcontext() as context:
        context.prec = 8
        return str(Decimal(value.numerator) / Decimal(value.denominator))


def decimal_places(value: Fraction) -> int | None:
    """The fewest fractional digits that write ``value`` exactly, or None if infinitely many."""
    denominator = value.denominator
    twos = (denominator & -denominator).bit_length() - 1
    denominator >>= twos
    fives = 0
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None


@dataclass(frozen=True)
class Bound:
    """One end of an interval: the value, whether it is included, and the keyword that set it."""

    value: Fraction
    inclusive: bool
    keyword: str


@dataclass(frozen=True)
class Interval:
    """The set of numbers between two optional bounds."""

    lower: Bound | None = None
    upper: Bound | None = None

    def contains(self, x: Fraction) -> bool:
        lower, upper = self.lower, self.upper
        above_lower = lower is None or x > lower.value or (x == lower.value and lower.inclusive)
        below_upper = upper is None or x < upper.value or (x == upper.value and upper.inclusive)
        return above_lower and below_upper

    def negated(self) -> Interval:
        """``{-x : x in self}``."""
        return Interval(lower=_negated(self.upper), upper=_negated(self.lower))

    def contains_all_positive(self) -> bool:
        """Whether every ``x > 0`` is inside."""
        return self.upper is None and (self.lower is None or self.lower.value <= 0)

    def integer_range(self) -> tuple[int | None, int | None]:
        """The smallest and largest integers inside (None: unbounded on that side)."""
        low = high = None
        if self.lower is not None:
            low = math.ceil(self.lower.value)
            if low == self.lower.value and not self.lower.inclusive:
                low += 1
        if self.upper is not None:
            high = math.floor(self.upper.value)
            if high == self.upper.value and not self.upper.inclusive:
                high -= 1
        return low, high


def _negated(bound: Bound | None) -> Bound | None:
    return None if bound is None else Bound(-bound.value, bound.inclusive, bound.keyword)


def interval_from_keywords(
    minimum: Number | None = None,
    maximum: Number | None = None,
    exclusive_minimum: Number | None = None,
    exclusive_maximum: Number | None = None,
) -> Interval:
    """The interval of the draft-6+ keywords (numeric ``exclusiveMinimum``/``exclusiveMaximum``).

    Draft 4 spelled the exclusive bounds as booleans next to ``minimum``/``maximum``;
    the schema compiler converts those before calling here, so a boolean is an error.
    """
    lowers = [
        Bound(exact_value(value, keyword), inclusive, keyword)
        for value, inclusive, keyword in (
            (minimum, True, "minimum"),
            (exclusive_minimum, False, "exclusiveMinimum"),
        )
        if value is not None
    ]
    uppers = [
        Bound(exact_value(value, keyword), inclusive, keyword)
        for value, inclusive, keyword in (
            (maximum, True, "maximum"),
            (exclusive_maximum, False, "exclusiveMaximum"),
        )
        if value is not None
    ]
    lower = max(lowers, key=lambda b: (b.value, not b.inclusive), default=None)
    upper = min(uppers, key=lambda b: (b.value, b.inclusive), default=None)
    return Interval(lower=lower, upper=upper)
