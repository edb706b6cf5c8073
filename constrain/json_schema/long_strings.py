"""Strings with large length bounds as rules over chunk terminals.

A byte automaton counting code points needs about 20 states per unit of ``maxLength``
(every escape form is counted too), so ``maxLength: 32767`` is out of reach. A grammar
counts cheaply instead: the string is ``"`` then chunks of 16 characters repeated by
``repeat`` (logarithmic rules), a remainder, and ``"``. Used when the string formula is
one length-only atom (no pattern or format to thread through the chunks).

A character is one code point in its JSON spelling: a raw character other than ``"``,
``\\`` and controls, a short escape, a ``\\u`` escape of a non-surrogate, or an escaped
surrogate pair (one code point, two escapes); lone surrogates are not valid strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from constrain.ir import NonTerminal, Terminal
from constrain.json_schema.nodes import Formula, StringAtom

if TYPE_CHECKING:
    from constrain.json_schema.to_grammar import GrammarBuilder

CHUNK = 16
LONG = 64  # length bounds above this use chunks
_HEX = "[0-9a-fA-F]"
CHARACTER = (
    r'(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]'
    rf"|\\u(?:[0-9a-cA-CefEF]{_HEX}{{3}}|[dD][0-7]{_HEX}{{2}})"
    rf"|\\u[dD][89abAB]{_HEX}{{2}}\\u[dD][c-fC-F]{_HEX}{{2}})"
)


def is_long_string(formula: Formula) -> bool:
    return (
        isinstance(formula, StringAtom)
        and formula.pattern is None
        and formula.format is None
        and (formula.min_length > LONG or (formula.max_length or 0) > LONG)
    )


def long_string(builder: GrammarBuilder, atom: StringAtom) -> NonTerminal:
    """``"`` + ``min_length``..``max_length`` characters + ``"``, counted by rules."""
    low, high = atom.min_length, atom.max_length
    nt = NonTerminal(builder.fresh("string"))
    if high is not None and low > high:
        return nt
    quote = _terminal(builder, "QUOTE", '"')
    chunk = _characters(builder, CHUNK, CHUNK)
    required = builder.repeater.exactly((chunk,), low // CHUNK) + _optional(_characters(builder, low % CHUNK))
    if high is None:
        builder.rule(nt, quote, *required, _characters(builder, 0, None), quote)
        return nt
    whole, rest = divmod(high - low, CHUNK)
    if whole:  # fewer than ``whole`` chunks and any remainder, or exactly ``whole`` and up to ``rest``
        fewer = builder.repeater.at_most((chunk,), whole - 1)
        builder.rule(nt, quote, *required, *fewer, _characters(builder, 0, CHUNK - 1), quote)
    all_chunks = builder.repeater.exactly((chunk,), whole)
    builder.rule(nt, quote, *required, *all_chunks, *_optional(_characters(builder, 0, rest)), quote)
    return nt


def _characters(builder: GrammarBuilder, low: int, high: int | None = -1) -> Terminal | None:
    """A terminal of ``low``..``high`` characters (``high=-1``: exactly ``low``); None if empty-only."""
    high = low if high == -1 else high
    if high == 0:
        return None
    bounds = f"{{{low},{'' if high is None else high}}}"
    return _terminal(builder, f"CHARS_{low}_{high}", f"{CHARACTER}{bounds}")


def _optional(terminal: Terminal | None) -> tuple[Terminal, ...]:
    return () if terminal is None else (terminal,)


def _terminal(builder: GrammarBuilder, name: str, pattern: str) -> Terminal:
    terminal = builder.terminal(("long string", pattern), name, lambda: pattern)
    assert terminal is not None
    return terminal
