"""Parse a terminal regex into a small AST over code point sets.

Python's own parser (``re._parser``) does the syntax, so the Python dialect accepts exactly
what ``re`` accepts; this module gives the result its meaning as a regular language:
every single-character item becomes the exact :class:`CodepointSet` ``re`` would match
(flags ``i``, ``a``, ``s`` included), anchors become zero-width assertions, and the
features that make a language non-regular or depend on match order (lookaround,
backreferences, ``\\b``, possessive/atomic groups) are rejected by name.

The ``ecma`` dialect (JSON Schema ``pattern``) goes through the same parser after a
pre-scan that rejects or rewrites ECMA-262 syntax whose meaning differs from Python's;
it uses code point semantics (as ECMAScript's ``u`` flag does).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from re import _constants as sre
from re import _parser as sre_parse

from constrain.charset import (
    ALL_SCALARS,
    ECMA_CATEGORIES,
    ECMA_DOT,
    NEWLINE,
    CodepointSet,
    case_sensitive_codepoints,
    case_sensitive_matches,
    python_category,
)
from constrain.errors import GrammarError
from constrain.ir import RegexDialect


class AssertionKind(enum.Enum):
    """Zero-width assertions a regular language can express exactly."""

    TEXT_START = "\\A"  # position 0 (also ``^`` without MULTILINE)
    LINE_START = "^"  # position 0 or just after a \n (``^`` with MULTILINE)
    TEXT_END = "\\Z"  # end of text (also ECMA's ``$``)
    END_OR_FINAL_NEWLINE = "$"  # end of text, or just before a \n that ends it (Python's ``$``)
    LINE_END = "$ (multiline)"  # end of text or just before any \n


@dataclass(frozen=True)
class CharClass:
    """Exactly one character from ``chars``."""

    chars: CodepointSet


@dataclass(frozen=True)
class Concat:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Alternation:
    options: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    body: Node
    min: int
    max: int | None  # None: unbounded


@dataclass(frozen=True)
class Assertion:
    kind: AssertionKind


Node = CharClass | Concat | Alternation | Repeat | Assertion


def abbreviate(pattern: str, limit: int = 60) -> str:
    """The pattern as quoted in error messages, cut to about ``limit`` characters."""
    return repr(pattern if len(pattern) <= limit else pattern[: limit - 3] + "...")


def parse_regex(pattern: str, dialect: RegexDialect = "python") -> Node:
    """The AST of ``pattern`` (raises GrammarError on malformed or unsupported patterns)."""
    if dialect not in ("python", "ecma"):
        raise GrammarError(f"unknown regex dialect {dialect!r} (expected 'python' or 'ecma')")
    source, origin = _ecma_to_python(pattern) if dialect == "ecma" else (pattern, None)
    try:
        parsed = sre_parse.parse(source, 0)
    except re.error as err:
        line, column = _position(pattern, err, origin)
        raise GrammarError(
            f"invalid regex {abbreviate(pattern)}: {err.msg}", line=line, column=column
        ) from None
    except (OverflowError, RecursionError) as err:
        raise GrammarError(f"invalid regex {abbreviate(pattern)}: {err}") from None
    flags = parsed.state.flags
    if dialect == "ecma" and flags & ~sre.SRE_FLAG_UNICODE:
        raise _unsupported("an inline flag group such as '(?i)'", pattern, dialect)
    return _Converter(pattern, dialect).sequence(parsed, flags)


def _position(pattern: str, err: re.error, origin: list[int] | None) -> tuple[int | None, int | None]:
    """1-based line and column of a parse error in the user's pattern."""
    if err.pos is None:
        return None, None
    if origin is None:
        return err.lineno, err.colno
    index = origin[err.pos]
    return pattern.count("\n", 0, index) + 1, index - pattern.rfind("\n", 0, index)


def _unsupported(feature: str, pattern: str, dialect: RegexDialect) -> GrammarError:
    where = "an ecma (JSON Schema) regex" if dialect == "ecma" else "a terminal regex"
    return GrammarError(f"{feature} is not supported in {where}: {abbreviate(pattern)}")


class _Converter:
    """Turns ``re._parser`` output into the AST, tracking scoped flags like ``re`` does."""

    def __init__(self, pattern: str, dialect: RegexDialect) -> None:
        self.pattern = pattern
        self.dialect = dialect

    def fail(self, feature: str) -> GrammarError:
        return _unsupported(feature, self.pattern, self.dialect)

    def sequence(self, items, flags: int) -> Node:
        parts = tuple(self.item(op, av, flags) for op, av in items)
        return parts[0] if len(parts) == 1 else Concat(parts)

    def item(self, op, av, flags: int) -> Node:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY):
            return CharClass(self.charset(op, av, flags))
        if op is sre.BRANCH:
            return Alternation(tuple(self.sequence(option, flags) for option in av[1]))
        if op is sre.SUBPATTERN:
            _group, add_flags, del_flags, body = av
            if self.dialect == "ecma" and (add_flags or del_flags):
                raise self.fail("a scoped flag group such as '(?i:...)'")
            if add_flags & sre_parse.TYPE_FLAGS:
                flags &= ~sre_parse.TYPE_FLAGS
            return self.sequence(body, (flags | add_flags) & ~del_flags)
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, body = av
            return Repeat(self.sequence(body, flags), low, None if high == sre.MAXREPEAT else high)
        if op is sre.AT:
            return Assertion(self.assertion(av, flags))
        raise self.fail(_UNSUPPORTED_OPS.get((op, _direction(op, av)), f"regex construct {op}"))

    def assertion(self, at, flags: int) -> AssertionKind:
        multiline = bool(flags & sre.SRE_FLAG_MULTILINE)
        if at is sre.AT_BEGINNING:
            return AssertionKind.LINE_START if multiline else AssertionKind.TEXT_START
        if at is sre.AT_END:
            if self.dialect == "ecma":
                return AssertionKind.TEXT_END
            return AssertionKind.LINE_END if multiline else AssertionKind.END_OR_FINAL_NEWLINE
        if at is sre.AT_BEGINNING_STRING:
            return AssertionKind.TEXT_START
        if at is sre.AT_END_STRING:
            return AssertionKind.TEXT_END
        if at is sre.AT_BOUNDARY:
            raise self.fail("word boundary '\\b'")
        raise self.fail("non-boundary assertion '\\B'")

    def charset(self, op, av, flags: int) -> CodepointSet:
        """The code points one character item matches, exactly as ``re`` would."""
        if op is sre.ANY:
            if self.dialect == "ecma":
                return ECMA_DOT
            return ALL_SCALARS if flags & sre.SRE_FLAG_DOTALL else ALL_SCALARS - NEWLINE
        if self.dialect == "ecma":
            self.reject_surrogates(op, av)
        ascii_only = bool(flags & sre.SRE_FLAG_ASCII)
        plain = self.plain_charset(op, av, ascii_only)
        if not flags & sre.SRE_FLAG_IGNORECASE:
            return plain
        # Characters unaffected by case keep their plain meaning; ask `re` about the others.
        item = ("(?ia)" if ascii_only else "(?i)") + _item_source(op, av)
        return (plain - case_sensitive_codepoints()) | case_sensitive_matches(item)

    def plain_charset(self, op, av, ascii_only: bool) -> CodepointSet:
        if op is sre.LITERAL:
            return CodepointSet.from_ranges([(av, av)])
        if op is sre.NOT_LITERAL:
            return CodepointSet.from_ranges([(av, av)]).complement()
        negate = bool(av) and av[0][0] is sre.NEGATE
        ranges: list[tuple[int, int]] = []
        categories = CodepointSet()
        for kind, value in av[1:] if negate else av:
            if kind is sre.LITERAL:
                ranges.append((value, value))
            elif kind is sre.RANGE:
                ranges.append(value)
            else:
                categories |= self.category(value, ascii_only)
        chars = CodepointSet.from_ranges(ranges) | categories
        return chars.complement() if negate else chars

    def category(self, code, ascii_only: bool) -> CodepointSet:
        name, negated = _CATEGORIES[code]
        chars = ECMA_CATEGORIES[name] if self.dialect == "ecma" else python_category(name, ascii_only)
        return chars.complement() if negated else chars

    def reject_surrogates(self, op, av) -> None:
        """A lone surrogate escape has no code point meaning (ECMA matches UTF-16 units)."""
        items = [(op, av)] if op in (sre.LITERAL, sre.NOT_LITERAL) else av
        for kind, value in items:
            lo, hi = value if kind is sre.RANGE else (value, value)
            if kind is not sre.CATEGORY and kind is not sre.NEGATE and lo <= 0xDFFF and hi >= 0xD800:
                raise self.fail("a lone surrogate escape (write astral characters as \\u{...})")


def _direction(op, av) -> int:
    return av[0] if op in (sre.ASSERT, sre.ASSERT_NOT) else 0


_UNSUPPORTED_OPS = {
    (sre.ASSERT, 1): "lookahead assertion '(?=...)'",
    (sre.ASSERT, -1): "lookbehind assertion '(?<=...)'",
    (sre.ASSERT_NOT, 1): "negative lookahead assertion '(?!...)'",
    (sre.ASSERT_NOT, -1): "lookbehind assertion '(?<!...)'",
    (sre.GROUPREF, 0): "backreference",
    (sre.GROUPREF_EXISTS, 0): "conditional group '(?(id)yes|no)'",
    (sre.POSSESSIVE_REPEAT, 0): "possessive quantifier",
    (sre.ATOMIC_GROUP, 0): "atomic group '(?>...)'",
}

_CATEGORIES = {
    sre.CATEGORY_DIGIT: ("digit", False),
    sre.CATEGORY_NOT_DIGIT: ("digit", True),
    sre.CATEGORY_WORD: ("word", False),
    sre.CATEGORY_NOT_WORD: ("word", True),
    sre.CATEGORY_SPACE: ("space", False),
    sre.CATEGORY_NOT_SPACE: ("space", True),
}
_CATEGORY_SOURCE = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
}


def _item_source(op, av) -> str:
    """Python regex source for one parsed character item, to hand back to ``re``."""

    def char(c: int) -> str:
        return f"\\U{c:08x}"

    if op is sre.LITERAL:
        return char(av)
    if op is sre.NOT_LITERAL:
        return f"[^{char(av)}]"
    parts = []
    for kind, value in av:
        if kind is sre.NEGATE:
            parts.append("^")
        elif kind is sre.LITERAL:
            parts.append(char(value))
        elif kind is sre.RANGE:
            parts.append(f"{char(value[0])}-{char(value[1])}")
        else:
            parts.append(_CATEGORY_SOURCE[value])
    return "[" + "".join(parts) + "]"


# ---------------------------------------------------------------------------------------
# ECMA-262 pre-scan.

_ECMA_ESCAPES = set("dDwWsSbBfnrtv0xu^$\\.*+?()[]{}|/-")


def _ecma_to_python(pattern: str) -> tuple[str, list[int]]:
    """Rewrite ECMA-only syntax into Python syntax with the same meaning, or reject it.

    Returns the Python source and, for each of its characters, the index of the ECMA
    character it came from (so parse errors report the user's column).
    """
    out: list[tuple[str, int]] = []
    i, in_class = 0, False

    def fail(feature: str) -> GrammarError:
        return GrammarError(
            f"{feature} is not supported in an ecma (JSON Schema) regex: {abbreviate(pattern)}",
            line=1,
            column=i + 1,
        )

    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            escaped = _ecma_escape(pattern, i, fail)
            out.append((escaped[0], i))
            i = escaped[1]
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            if pattern.startswith("[^]", i):
                out.append(("[\\s\\S]", i))
                i += 3
                continue
            if pattern.startswith("[]", i):
                out.append(("[^\\s\\S]", i))
                i += 2
                continue
            in_class = True
        elif pattern.startswith("(?<", i) and i + 3 < len(pattern) and pattern[i + 3] not in "=!":
            out.append(("(?P<", i))
            i += 3
            continue
        elif pattern.startswith("{,", i):
            raise fail("the quantifier '{,n}'")
        out.append((c, i))
        i += 1
    source = "".join(text for text, _ in out)
    origin = [start for text, start in out for _ in text] + [len(pattern)]
    return source, origin


def _ecma_escape(pattern: str, i: int, fail) -> tuple[str, int]:
    """Python source for the escape at ``pattern[i]`` and the index after it."""
    c = pattern[i + 1]
    if c == "u" and pattern.startswith("{", i + 2):
        end = pattern.find("}", i + 3)
        digits = pattern[i + 3 : end] if end > 0 else ""
        if not digits or any(d not in "0123456789abcdefABCDEF" for d in digits) or int(digits, 16) > 0x10FFFF:
            raise fail("a malformed escape '\\u{...}'")
        return f"\\U{int(digits, 16):08x}", end + 1
    if c == "u":
        high = _hex4(pattern, i + 2)
        low = _hex4(pattern, i + 8) if pattern.startswith("\\u", i + 6) else None
        if high is not None and 0xD800 <= high <= 0xDBFF and low is not None and 0xDC00 <= low <= 0xDFFF:
            return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}", i + 12
    if (c.isdigit() and c != "0") or c == "k":
        raise fail("backreference")
    if c == "0" and i + 2 < len(pattern) and pattern[i + 2].isdigit():
        raise fail("legacy octal escape")
    if c in "pP":
        raise fail("Unicode property escape '\\p{...}'")
    if c == "c":
        raise fail("control escape '\\cX'")
    if c.isascii() and not c.isalnum() and c not in _ECMA_ESCAPES:
        return re.escape(c), i + 2  # an identity escape (Annex B): "\\:" is ":"
    if c.isascii() and c not in _ECMA_ESCAPES:
        raise fail(f"escape '\\{c}'")
    return pattern[i : i + 2], i + 2


def _hex4(pattern: str, start: int) -> int | None:
    digits = pattern[start : start + 4]
    if len(digits) == 4 and all(d in "0123456789abcdefABCDEF" for d in digits):
        return int(digits, 16)
    return None
