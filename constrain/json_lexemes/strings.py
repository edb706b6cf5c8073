"""JSON string lexemes: every JSON literal whose decoded value meets the string keywords.

Two steps. First the *decoded* language, a DFA over the UTF-8 bytes of the value: the
intersection of the ``pattern`` and ``format`` automata, then a code point counter for
``minLength``/``maxLength`` (built level by level, so only the (count, pattern state)
pairs that occur exist). Then :func:`escapes.json_encodings` turns it into the language
of the quoted, escaped JSON texts of those values. A finite set of values (``enum``,
``const``, property names) skips both: the values meeting the other keywords are
filtered one by one and :func:`literals.literals_dfa` spells them out directly.

Lone surrogate escapes (``"\\ud800"``) are rejected: they decode to no Unicode string.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from constrain.byte_dfa import ByteDFA, compile_regex_dfa
from constrain.errors import CompileBudgetError, GrammarError, SchemaError, UnsupportedSchemaError
from constrain.json_lexemes.automata import EMPTY, check_deadline
from constrain.json_lexemes.escapes import json_encodings
from constrain.json_lexemes.formats import format_dfa
from constrain.json_lexemes.literals import literals_dfa
from constrain.json_lexemes.utf8 import count_code_points, utf8_table

DEFAULT_MAX_STATES = 100_000


def json_string_dfa(
    *,
    min_length: int = 0,
    max_length: int | None = None,
    pattern: str | None = None,
    format: str | None = None,
    enum_of: Iterable[str] | None = None,
    deadline: float | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> ByteDFA:
    """The JSON string literals (quotes included) whose decoded value meets every constraint.

    ``min_length``/``max_length`` count code points; ``pattern`` is an ECMA-262 regex that
    must match somewhere in the value; ``format`` must be a name :func:`format_dfa`
    supports (callers that ignore unknown formats check that first); ``enum_of`` limits the
    value to the given strings. Raises CompileBudgetError naming the keyword when the
    automaton would exceed ``max_states`` states or ``deadline`` (``time.monotonic()``)
    passes, SchemaError for malformed keyword values and UnsupportedSchemaError for
    patterns the regex compiler cannot handle.
    """
    _check_length(min_length, "minLength")
    if max_length is not None:
        _check_length(max_length, "maxLength")
    keywords = _keywords_text(min_length, max_length, pattern, format, enum_of)
    if enum_of is not None:
        values = _checked_values(enum_of, "enum")
        checks = _value_checks(pattern, format, deadline, max_states)
        kept = [value for value in values if _value_meets(value, min_length, max_length, checks)]
        return _literals_within_budget(kept, max_states, keywords)
    decoded = _decoded_language(min_length, max_length, pattern, format, deadline, max_states, keywords)
    return json_string_encodings(decoded, max_states=max_states, deadline=deadline, description=keywords)


def json_string_value_dfa(
    *,
    min_length: int = 0,
    max_length: int | None = None,
    pattern: str | None = None,
    format: str | None = None,
    deadline: float | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> ByteDFA:
    """The UTF-8 bytes of the values ``json_string_dfa`` (same arguments, same errors) quotes.

    Every JSON literal decodes to exactly one value, so quoting is a homomorphism of
    set algebras: the literals of ``A ∩ B``, ``A ∪ B`` and ``values - A`` are those of
    ``A`` and ``B`` combined likewise. Combining these small decoded automata and quoting
    the result once (``json_string_encodings``) is much cheaper than combining the quoted
    ones, whose escape states multiply in every product.
    """
    _check_length(min_length, "minLength")
    if max_length is not None:
        _check_length(max_length, "maxLength")
    keywords = _keywords_text(min_length, max_length, pattern, format, None)
    return _decoded_language(min_length, max_length, pattern, format, deadline, max_states, keywords)


@lru_cache(maxsize=4096)
def json_string_literal_dfa(value: str, *, keyword: str = "const") -> ByteDFA:
    """Every JSON literal of exactly ``value`` (any mix of raw and escaped characters).

    For ``const``/``enum`` strings and property names (cached: the same names recur). A
    value holding a lone surrogate (possible in a Python str, e.g. from
    ``json.loads('"\\ud800"')``) is refused with UnsupportedSchemaError naming ``keyword``,
    as no JSON text this package accepts decodes to it.
    """
    return literals_dfa(_checked_values([value], keyword))


def json_string_encodings(
    decoded: ByteDFA,
    *,
    max_states: int = DEFAULT_MAX_STATES,
    deadline: float | None = None,
    description: str = "string",
) -> ByteDFA:
    """The JSON literals of the values of ``decoded``, a DFA over their UTF-8 bytes.

    ``decoded`` must accept only well-formed UTF-8 and be minimal (as every ``ByteDFA``
    from ``byte_dfa`` is); then so is the result. For callers that combine decoded
    languages themselves (e.g. property names: known names, patterns, their complement).
    CompileBudgetError messages start with ``description``.
    """
    if decoded.is_empty:
        return EMPTY

    def on_budget(count: int) -> str:
        return f"{description}: the JSON escapes need over max_states={max_states} states (at least {count})"

    transitions, accepting = json_encodings(decoded.transitions, decoded.accepting, max_states, on_budget)
    check_deadline(deadline, description)
    return ByteDFA(transitions, accepting)  # trimmed and minimal by construction (see escapes.py)


def _decoded_language(
    min_length: int,
    max_length: int | None,
    pattern: str | None,
    format: str | None,
    deadline: float | None,
    max_states: int,
    keywords: str,
) -> ByteDFA:
    """The UTF-8 bytes of the values meeting every constraint, minimal and trimmed."""
    parts = _value_checks(pattern, format, deadline, max_states)
    if not parts:
        parts.append(ByteDFA(*utf8_table()))
    decoded = parts[0]
    for part in parts[1:]:
        decoded = decoded.intersect(part)
        check_deadline(deadline, keywords)
    if decoded.is_empty or (min_length == 0 and max_length is None):
        return decoded
    if max_length is not None and min_length > max_length:
        return EMPTY
    length_keyword = "maxLength" if max_length is not None else "minLength"

    def on_budget(count: int) -> str:
        return (
            f"{length_keyword}: counting code points for {keywords} needs more than "
            f"max_states={max_states} states (at least {count} before escapes)"
        )

    # Escapes add at least one state per decoded one: half the budget is the decoded share.
    counted = count_code_points(
        decoded.transitions, decoded.accepting, min_length, max_length, max_states // 2, on_budget
    )
    check_deadline(deadline, keywords)
    return ByteDFA(*counted)


def _pattern_dfa(pattern: str, deadline: float | None, max_states: int) -> ByteDFA:
    if not isinstance(pattern, str):
        raise SchemaError(f"pattern must be a string, got {pattern!r}")
    try:
        return compile_regex_dfa(pattern, "ecma", search=True, max_states=max_states, deadline=deadline)
    except CompileBudgetError as error:
        raise CompileBudgetError(f"pattern: {error}") from error
    except GrammarError as error:
        raise UnsupportedSchemaError("pattern", str(error)) from error


def _format_dfa(name: str) -> ByteDFA:
    dfa = format_dfa(name)
    if dfa is None:
        raise UnsupportedSchemaError("format", f"no automaton for format {name!r}")
    return dfa


def _checked_values(values: Iterable[str], keyword: str) -> list[str]:
    """The strings, refusing non-strings and lone surrogates (no JSON text decodes to those)."""
    checked = []
    for value in values:
        if not isinstance(value, str):
            raise SchemaError(f"{keyword}: expected a string, got {value!r}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise UnsupportedSchemaError(
                keyword, f"{value!r} contains a lone surrogate, which no valid JSON string decodes to"
            ) from error
        checked.append(value)
    return checked


def _value_checks(
    pattern: str | None, format: str | None, deadline: float | None, max_states: int
) -> list[ByteDFA]:
    """The decoded languages of ``format`` and ``pattern`` (those given)."""
    checks = []
    if format is not None:
        checks.append(_format_dfa(format))
    if pattern is not None:
        checks.append(_pattern_dfa(pattern, deadline, max_states))
    return checks


def _value_meets(value: str, min_length: int, max_length: int | None, checks: list[ByteDFA]) -> bool:
    """Whether one ``enum`` string meets the other keywords (lengths count code points)."""
    if len(value) < min_length or (max_length is not None and len(value) > max_length):
        return False
    data = value.encode("utf-8")
    return all(check.matches(data) for check in checks)


def _literals_within_budget(values: list[str], max_states: int, description: str) -> ByteDFA:
    dfa = literals_dfa(values)
    if dfa.n_states > max_states:
        raise CompileBudgetError(
            f"{description}: the JSON escapes need over max_states={max_states} states ({dfa.n_states})"
        )
    return dfa


def _check_length(value: object, keyword: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(f"{keyword} must be a non-negative integer, got {value!r}")


def _keywords_text(
    min_length: int, max_length: int | None, pattern: str | None, format: str | None, enum_of: object
) -> str:
    """A short description of the constraints, for error messages."""
    parts = [f"minLength={min_length}"] if min_length else []
    if max_length is not None:
        parts.append(f"maxLength={max_length}")
    if pattern is not None:
        shown = pattern if len(pattern) <= 40 else pattern[:37] + "..."
        parts.append(f"pattern={shown!r}")
    if format is not None:
        parts.append(f"format={format!r}")
    if enum_of is not None:
        parts.append("enum")
    return "string with " + ", ".join(parts) if parts else "string"
