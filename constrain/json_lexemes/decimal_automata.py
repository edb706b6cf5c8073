"""Automata reading decimal numerals digit by digit: comparison with a bound, divisibility.

Both read the text left to right, as JSON numbers are written, and are meant to be
intersected with a syntax automaton: they do not check the syntax themselves.
"""

from __future__ import annotations

import numpy as np

from constrain.byte_dfa import ByteDFA
from constrain.errors import UnsupportedSchemaError
from constrain.json_lexemes.automata import table_dfa

LESS, EQUAL, GREATER = -1, 0, 1
DIGITS = b"0123456789"
POINT, MINUS = ord("."), ord("-")

# States of the comparison automaton, as tuples:
#   ("int", k, order)  k integer digits read; order compares them with the bound's first k
#   ("longer",)        more integer digits than the bound: the numeral is greater
#   ("frac", j)        integer part equal to the bound's, first j fraction digits equal too
#   ("decided", order) the order is known; any further digits keep it
_Key = tuple


def comparison_dfa(integer: str, fraction: str, accepted: frozenset[int]) -> ByteDFA:
    """Magnitudes ``I[.F]`` (no sign, no leading zeros) whose order vs. the bound is accepted.

    The bound is ``integer.fraction`` (``fraction`` without trailing zeros); ``accepted``
    holds LESS, EQUAL and/or GREATER. Integer parts compare by length first, then digit
    by digit; fraction parts digit by digit with the bound padded by zeros.
    """
    keys: dict[_Key, int] = {}
    edges: list[tuple[int, int, _Key]] = []
    pending: list[_Key] = [("int", 0, EQUAL)]
    while pending:
        key = pending.pop()
        if key in keys:
            continue
        keys[key] = len(keys)
        for byte in (*DIGITS, POINT):
            target = _next(key, byte, integer, fraction)
            if target is not None:
                edges.append((keys[key], byte, target))
                pending.append(target)
    table = np.full((len(keys), 256), -1, dtype=np.int32)
    for source, byte, target in edges:
        table[source, byte] = keys[target]
    accepting = np.zeros(len(keys), dtype=np.bool_)
    for key, state in keys.items():
        accepting[state] = _order_at_end(key, integer, fraction) in accepted
    return table_dfa(table, accepting)


def _next(key: _Key, byte: int, integer: str, fraction: str) -> _Key | None:
    kind = key[0]
    if byte == POINT:
        if kind == "int" and key[1] > 0:
            order = _integer_order(key, integer)
            return ("frac", 0) if order == EQUAL else ("decided", order)
        return ("decided", GREATER) if kind == "longer" else None
    digit = chr(byte)
    if kind == "int":
        count, order = key[1], key[2]
        if count == len(integer):
            return ("longer",)
        if order == EQUAL:
            order = _compare(digit, integer[count])
        return ("int", count + 1, order)
    if kind == "frac":
        position = key[1]
        bound_digit = fraction[position] if position < len(fraction) else "0"
        order = _compare(digit, bound_digit)
        if order != EQUAL:
            return ("decided", order)
        return ("frac", min(position + 1, len(fraction)))
    return key  # "longer" and "decided" keep their order


def _order_at_end(key: _Key, integer: str, fraction: str) -> int | None:
    """How the numeral read so far compares with the bound (None: no digit read yet)."""
    kind = key[0]
    if kind == "int":
        if key[1] == 0:
            return None
        order = _integer_order(key, integer)
        return LESS if order == EQUAL and fraction else order  # "7" < "7.5"
    if kind == "longer":
        return GREATER
    if kind == "frac":
        # A proper prefix of the bound's fraction: the bound's remaining digits end non-zero.
        return LESS if key[1] < len(fraction) else EQUAL
    return key[1]


def _integer_order(key: _Key, integer: str) -> int:
    """How the integer digits of an ("int", k, order) state compare with the bound's."""
    count, order = key[1], key[2]
    return LESS if count < len(integer) else order


def _compare(a: str, b: str) -> int:
    return (a > b) - (a < b)


def multiple_dfa(modulus: int, scale: int, max_states: int) -> ByteDFA:
    """Signed numerals whose value times ``10**scale`` is an integer divisible by ``modulus``.

    That is the multiples of ``modulus / 10**scale``. The state is the remainder of the
    digits read so far (as one integer) modulo ``modulus``, and the count of fraction
    digits up to ``scale``; fraction digits past ``scale`` must be zeros. A numeral with
    ``j`` fraction digits and digit-remainder ``r`` is accepted when
    ``r * 10**(scale - j)`` is divisible by ``modulus``.
    """
    n_states = 2 + modulus * (scale + 2)
    if n_states > max_states:
        raise UnsupportedSchemaError(
            "multipleOf",
            f"multiples of {modulus}/10**{scale} need a remainder automaton of {n_states} states, "
            f"over the budget of {max_states}",
        )
    start, after_sign = 0, 1
    remainders = np.arange(modulus)
    integer_state = 2 + remainders

    def fraction_state(position: int, remainder: np.ndarray | int) -> np.ndarray | int:
        return 2 + modulus * (position + 1) + remainder

    table = np.full((n_states, 256), -1, dtype=np.int32)
    accepting = np.zeros(n_states, dtype=np.bool_)
    table[start, MINUS] = after_sign
    for digit, byte in enumerate(DIGITS):
        table[[start, after_sign], byte] = integer_state[digit % modulus]
        table[integer_state, byte] = integer_state[(10 * remainders + digit) % modulus]
        for position in range(scale):
            next_state = fraction_state(position + 1, (10 * remainders + digit) % modulus)
            table[fraction_state(position, remainders), byte] = next_state
    table[integer_state, POINT] = fraction_state(0, remainders)
    table[fraction_state(scale, remainders), ord("0")] = fraction_state(scale, remainders)
    accepting[integer_state] = remainders * pow(10, scale, modulus) % modulus == 0
    for position in range(scale + 1):
        padding = pow(10, scale - position, modulus)
        accepting[fraction_state(position, remainders)] = remainders * padding % modulus == 0
    return table_dfa(table, accepting)
