"""Sets of Unicode scalar values, the character classes regex dialects define, and UTF-8 tries.

A regex terminal is compiled at the level of characters and only then expanded to bytes,
so this module owns the two facts about characters the rest of the compiler relies on:

* which code points a class such as ``\\w``, ``.`` or ``(?i)k`` stands for, computed by
  asking Python's own ``re`` engine (so it is exact by construction, not a re-derivation
  of the Unicode database), once per process and cached;
* how a partition of code points into classes becomes a deterministic byte-level trie
  that reads exactly one well-formed UTF-8 character (:func:`utf8_dispatch`).

Surrogates (U+D800..U+DFFF) have no UTF-8 encoding, so a :class:`CodepointSet` never
contains them: every constructor drops them and the complement is taken within the
scalar values.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import pairwise
from typing import Literal

import numpy as np

MAX_CODEPOINT = 0x10FFFF
SURROGATE_LO, SURROGATE_HI = 0xD800, 0xDFFF


@dataclass(frozen=True)
class CodepointSet:
    """A set of Unicode scalar values as sorted, disjoint, non-adjacent inclusive ranges.

    The canonical form makes equality and hashing structural, which is what lets the UTF-8
    tries below be cached per set.
    """

    ranges: tuple[tuple[int, int], ...] = ()
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash(self.ranges))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def from_ranges(cls, ranges: Iterable[tuple[int, int]]) -> CodepointSet:
        """Normalize arbitrary inclusive ranges (any order, overlapping) into a set of scalars."""
        merged: list[list[int]] = []
        for lo, hi in sorted(ranges):
            lo, hi = max(lo, 0), min(hi, MAX_CODEPOINT)
            if lo > hi:
                continue
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        return cls(_without_surrogates(merged))

    @classmethod
    def of(cls, *chars: str) -> CodepointSet:
        return cls.from_ranges((ord(c), ord(c)) for c in chars)

    @property
    def is_empty(self) -> bool:
        return not self.ranges

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    def __contains__(self, codepoint: int) -> bool:
        i = bisect.bisect_right(self.ranges, (codepoint, MAX_CODEPOINT + 1)) - 1
        return i >= 0 and self.ranges[i][0] <= codepoint <= self.ranges[i][1]

    def __or__(self, other: CodepointSet) -> CodepointSet:
        return CodepointSet.from_ranges(self.ranges + other.ranges)

    def __and__(self, other: CodepointSet) -> CodepointSet:
        return (self.complement() | other.complement()).complement()

    def __sub__(self, other: CodepointSet) -> CodepointSet:
        return (self.complement() | other).complement()

    def complement(self) -> CodepointSet:
        """All scalar values (never surrogates) not in this set."""
        gaps, start = [], 0
        for lo, hi in self.ranges:
            if lo > start:
                gaps.append((start, lo - 1))
            start = hi + 1
        if start <= MAX_CODEPOINT:
            gaps.append((start, MAX_CODEPOINT))
        return CodepointSet.from_ranges(gaps)


def _without_surrogates(ranges: list[list[int]]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if lo < SURROGATE_LO:
            out.append((lo, min(hi, SURROGATE_LO - 1)))
        if hi > SURROGATE_HI:
            out.append((max(lo, SURROGATE_HI + 1), hi))
    return tuple(out)


ALL_SCALARS = CodepointSet(((0, SURROGATE_LO - 1), (SURROGATE_HI + 1, MAX_CODEPOINT)))
NEWLINE = CodepointSet.of("\n")


def partition_codepoints(
    classes: Iterable[CodepointSet],
) -> tuple[list[CodepointSet], dict[CodepointSet, int]]:
    """The coarsest partition of the classes' union into atoms, each class being a union of atoms.

    Returns the atoms (ordered by first code point) and, for each non-empty class, the
    bitmask of the atoms it consists of. An automaton over atoms is exact for every class
    and far smaller than one over code points or bytes.
    """
    distinct = [cs for cs in dict.fromkeys(classes) if cs]
    if not distinct:
        return [], {}
    bounds = np.unique([x for cs in distinct for lo, hi in cs.ranges for x in (lo, hi + 1)])
    member = np.zeros((len(distinct), len(bounds) - 1), dtype=bool)  # class x elementary segment
    for row, cs in enumerate(distinct):
        marks = np.zeros(len(bounds), dtype=np.int64)
        np.add.at(marks, np.searchsorted(bounds, [lo for lo, _ in cs.ranges]), 1)
        np.add.at(marks, np.searchsorted(bounds, [hi + 1 for _, hi in cs.ranges]), -1)
        member[row] = np.cumsum(marks)[:-1] > 0
    signatures, segment_atom = np.unique(member, axis=1, return_inverse=True)
    ranges: dict[int, list[tuple[int, int]]] = {}
    for segment, atom in enumerate(np.ravel(segment_atom).tolist()):
        if signatures[:, atom].any():
            ranges.setdefault(atom, []).append((int(bounds[segment]), int(bounds[segment + 1]) - 1))
    order = sorted(ranges, key=lambda atom: ranges[atom][0])
    atoms = [CodepointSet(tuple(ranges[atom])) for atom in order]
    masks = {
        cs: sum(1 << i for i, atom in enumerate(order) if signatures[row, atom])
        for row, cs in enumerate(distinct)
    }
    return atoms, masks


# ---------------------------------------------------------------------------------------
# Classes as Python's `re` defines them, measured with `re` itself.


@cache
def _scalar_text() -> str:
    """Every scalar value once, in order; index i is code point i below U+D800, i + 0x800 above."""
    scalars = np.concatenate([np.arange(SURROGATE_LO), np.arange(SURROGATE_HI + 1, MAX_CODEPOINT + 1)])
    return scalars.astype("<u4").tobytes().decode("utf-32-le")


def _scalar_at(index: int) -> int:
    return index if index < SURROGATE_LO else index + (SURROGATE_HI - SURROGATE_LO + 1)


def _codepoints_matched_by(char_pattern: str) -> CodepointSet:
    """The scalars ``char_pattern`` (which must match exactly one character) matches, per ``re``."""
    runs = re.finditer(f"(?:{char_pattern})+", _scalar_text())
    return CodepointSet.from_ranges((_scalar_at(m.start()), _scalar_at(m.end() - 1)) for m in runs)


PythonCategory = Literal["digit", "word", "space"]
_CATEGORY_ESCAPES = {"digit": r"\d", "word": r"\w", "space": r"\s"}


@cache
def python_category(name: PythonCategory, ascii_only: bool = False) -> CodepointSet:
    """``\\d``, ``\\w`` or ``\\s`` exactly as Python's ``re`` matches them in a str pattern."""
    escape = _CATEGORY_ESCAPES[name]
    return _codepoints_matched_by(f"(?a:{escape})" if ascii_only else escape)


_ECMA_SPACE = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"
ECMA_CATEGORIES: dict[PythonCategory, CodepointSet] = {
    "digit": CodepointSet.from_ranges([(0x30, 0x39)]),
    "word": CodepointSet.from_ranges([(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]),
    "space": CodepointSet.of(*_ECMA_SPACE) | CodepointSet.from_ranges([(0x2000, 0x200A)]),
}
ECMA_DOT = ALL_SCALARS - CodepointSet.of("\n", "\r", "\u2028", "\u2029")


@cache
def _case_sensitive_universe() -> tuple[str, tuple[int, ...]]:
    """The code points whose matching can depend on IGNORECASE, as a text and its code points.

    ``re`` compiles a case-insensitive item by lower-casing pattern and subject characters
    (plus a table of extra equivalences, all between cased characters); a character that
    is not cased and is no cased character's lower case matches the same with or without
    the flag. The others (about three thousand) are decided by asking ``re``.
    """
    import _sre

    members: set[int] = set()
    for c in range(MAX_CODEPOINT + 1):
        if _sre.unicode_iscased(c):
            members.update((c, _sre.unicode_tolower(c)))
    codepoints = tuple(sorted(c for c in members if not SURROGATE_LO <= c <= SURROGATE_HI))
    return "".join(map(chr, codepoints)), codepoints


@cache
def case_sensitive_codepoints() -> CodepointSet:
    return CodepointSet.from_ranges((c, c) for c in _case_sensitive_universe()[1])


@lru_cache(maxsize=4096)
def case_sensitive_matches(char_pattern: str) -> CodepointSet:
    """The case-sensitive code points ``char_pattern`` (one character, with its flags) matches."""
    text, codepoints = _case_sensitive_universe()
    found = re.finditer(char_pattern, text)
    return CodepointSet.from_ranges((codepoints[m.start()], codepoints[m.start()]) for m in found)


# ---------------------------------------------------------------------------------------
# UTF-8 tries.


@dataclass(frozen=True, eq=False)
class Utf8Dispatch:
    """A byte trie that reads one UTF-8 character and leaves through the slot of its class.

    ``rows[node, byte]`` is ``-1`` (invalid: not UTF-8 or in no class), an inner node id
    ``>= 1``, or ``-2 - slot`` when ``byte`` completes a character of ``classes[slot]``.
    Node 0 is the root; ``levels[node]`` is how many continuation bytes the node still
    expects (0 for the root). Inner nodes are shared by structure, so for disjoint classes
    whose slots lead to distinct, inequivalent states the trie is minimal.
    """

    rows: np.ndarray
    levels: np.ndarray


def _lead_blocks() -> list[tuple[int, int, int, int, int]]:
    """(lead byte, block base, continuation bytes, first valid, last valid) for multi-byte leads.

    Clipping each block to its valid code points is what rules out overlong forms,
    surrogates and code points above U+10FFFF.
    """
    blocks = []
    for lead in range(0xC2, 0xE0):
        base = (lead - 0xC0) << 6
        blocks.append((lead, base, 1, base, base + 0x3F))
    for lead in range(0xE0, 0xF0):
        base = (lead - 0xE0) << 12
        blocks.append((lead, base, 2, max(base, 0x800), base + 0xFFF))
    for lead in range(0xF0, 0xF5):
        base = (lead - 0xF0) << 18
        blocks.append((lead, base, 3, max(base, 0x10000), min(base + 0x3FFFF, MAX_CODEPOINT)))
    return blocks


_LEAD_BLOCKS = _lead_blocks()
_Span = tuple[int, int, int]  # (lo, hi, slot), relative to the block base


class _TrieBuilder:
    def __init__(self) -> None:
        self.rows: list[np.ndarray] = [np.full(256, -1, dtype=np.int32)]
        self.levels: list[int] = [0]
        self.known: dict[tuple[int, tuple[_Span, ...]], int] = {}

    def node(self, level: int, spans: tuple[_Span, ...]) -> int:
        """The node reading ``level`` continuation bytes of a block whose classes are ``spans``."""
        key = (level, spans)
        if key in self.known:
            return self.known[key]
        row = np.full(256, -1, dtype=np.int32)
        if level == 1:
            for lo, hi, slot in spans:
                row[0x80 + lo : 0x81 + hi] = -2 - slot
        else:
            size = 64 ** (level - 1)
            partial: dict[int, list[_Span]] = {}
            for lo, hi, slot in spans:
                first, last = lo // size, hi // size
                for block in dict.fromkeys((first, last)):
                    base = block * size
                    partial.setdefault(block, []).append(
                        (max(lo, base) - base, min(hi, base + size - 1) - base, slot)
                    )
                if last - first >= 2:
                    row[0x81 + first : 0x80 + last] = self.node(level - 1, ((0, size - 1, slot),))
            for block, pieces in partial.items():
                row[0x80 + block] = self.node(level - 1, tuple(pieces))
        self.known[key] = len(self.rows)
        self.rows.append(row)
        self.levels.append(level)
        return self.known[key]


@lru_cache(maxsize=2048)
def utf8_dispatch(classes: tuple[CodepointSet, ...]) -> Utf8Dispatch:
    """The UTF-8 trie of a tuple of pairwise disjoint code point sets (slot i = classes[i])."""
    spans = sorted((lo, hi, slot) for slot, cs in enumerate(classes) for lo, hi in cs.ranges)
    if any(prev[1] >= nxt[0] for prev, nxt in pairwise(spans)):
        raise ValueError("utf8_dispatch needs pairwise disjoint classes")
    his = [hi for _, hi, _ in spans]
    builder = _TrieBuilder()
    root = builder.rows[0]
    for lo, hi, slot in spans[: bisect.bisect_left(his, 0x80) + 1]:
        if lo < 0x80:
            root[lo : min(hi, 0x7F) + 1] = -2 - slot
    for lead, base, level, first, last in _LEAD_BLOCKS:
        inside = []
        for lo, hi, slot in spans[bisect.bisect_left(his, first) :]:
            if lo > last:
                break
            inside.append((max(lo, first) - base, min(hi, last) - base, slot))
        if inside:
            root[lead] = builder.node(level, tuple(inside))
    rows = np.stack(builder.rows)
    rows.flags.writeable = False
    levels = np.array(builder.levels, dtype=np.int8)
    levels.flags.writeable = False
    return Utf8Dispatch(rows=rows, levels=levels)
