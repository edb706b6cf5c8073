"""The infilling checker against brute force, with ReferenceChecker as the membership oracle.

A pattern is a list of known pieces and holes. The brute force fills the holes left to
right, pruning every partial text the oracle says is no viable prefix, and asks the oracle
whether some full text is a word. It shares no code with the checker.

Bounded holes (``tokens=k``, ``max_tokens=k``) over a small explicit vocabulary are finite
sets, so the brute force enumerates them completely and the comparison is exact.

Unbounded holes stand for infinitely many fills, so the brute force tries fills up to a
length bound ``L``, and the comparison is exact only where a short completion provably
exists whenever any does:

* Balanced brackets ``()[]`` with ignored spaces. Take any completion and delete from the
  fills every pair of brackets matched to each other with both ends inside fills (deleting
  a matched pair keeps a word balanced) and every space (spaces only separate lexemes that
  are single characters). What remains of the fills is matched to known brackets, one to
  one, so the fills together have at most as many bytes as the known text has brackets.
* Regexes. If the minimal DFA has ``n`` states, each fill can be replaced by a shortest
  path between the states the hole enters and leaves, of at most ``n - 1`` bytes, and only
  bytes the regex uses can occur (``(ab|c[de]*)+f?`` has 5 states, ``(é|ab)+`` has 4 over
  bytes, counting the half-read ``é``).

For the other grammars (arithmetic, a JSON subset) the unbounded comparison is one-sided:
whenever the brute force finds a completion the checker must say completable; targeted
cases in ``tests/test_infill_checker.py`` cover the other direction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from constrain import Vocabulary, compile_ir
from constrain.diffusion.canvas import canvas_segments, violates_padding
from constrain.infill import Checker, Hole
from constrain.infill import checker as checker_module
from constrain.ir import Grammar, regex_grammar
from constrain.lark_frontend import grammar_from_lark
from constrain.testing import ReferenceChecker

EOS = 0


@dataclass(frozen=True)
class Case:
    name: str
    grammar: Grammar
    words: tuple[bytes, ...]  # words of the language that patterns are cut from
    tokens: tuple[bytes, ...]  # the explicit vocabulary (without EOS)
    fill_alphabet: tuple[bytes, ...]  # units unbounded fills are made of
    exact_fill_bound: int | None  # per-hole bound that makes unbounded holes exact; None: one-sided


DYCK = grammar_from_lark(
    r"""
    start: s
    s: | "(" s ")" s | "[" s "]" s
    SPACES: / +/
    %ignore SPACES
    """,
    "start",
)
ARITHMETIC = grammar_from_lark(
    r"""
    start: expr
    ?expr: expr "+" term | term
    ?term: term "*" factor | factor
    ?factor: NUMBER | "(" expr ")"
    NUMBER: /[0-9]+/
    """,
    "start",
)
JSON_SUBSET = grammar_from_lark(
    r"""
    start: value
    ?value: "[" [value ("," value)*] "]" | "{" [pair ("," pair)*] "}" | NUMBER | STRING | "true"
    pair: STRING ":" value
    NUMBER: /-?[0-9]+/
    STRING: /"[a-zé]*"/
    WS: /[ ]+/
    %ignore WS
    """,
    "start",
)

CASES = (
    Case(
        "dyck",
        DYCK,
        (b"([])", b"[()()]", b"( [ ] )", b"()[]", b" (()) "),
        (b"(", b")", b"[", b"]", b" ", b"()", b")(", b"][", b"[(", b")]", b"( ", b"])"),
        (b"(", b")", b"[", b"]"),
        None,  # the bound depends on the known text: see dyck_bound
    ),
    Case(
        "arithmetic",
        ARITHMETIC,
        (b"1+2*3", b"(1+2)*3", b"12*(3+4)", b"((7))", b"10+0"),
        (b"1", b"2", b"+", b"*", b"(", b")", b"12", b"1+", b"+(", b")*", b"*1", b"2)"),
        (b"1", b"+", b"*", b"(", b")"),
        None,
    ),
    Case(
        "json_subset",
        JSON_SUBSET,
        (b'{"a": [1, "\xc3\xa9"]}', b'[true,{"b":-2}]', b'{ "ab" : { } }', b'["x", 12]'),
        (
            b"[",
            b"]",
            b"{",
            b"}",
            b'"',
            b"1",
            b",",
            b":",
            b" ",
            b'":',
            b"],[",
            b'"a',
            b"\xc3",
            b"\xa9",
            b'\xc3\xa9"',
            b"true",
        ),
        (b"[", b"]", b"{", b"}", b'"', b"1", b",", b":", b"a"),
        None,
    ),
    Case(
        "regex_abcdef",
        regex_grammar("(ab|c[de]*)+f?"),
        (b"abcdef", b"cccf", b"abab", b"cedab"),
        (b"a", b"b", b"c", b"d", b"e", b"f", b"ab", b"bc", b"dd", b"ef", b"ca"),
        (b"a", b"b", b"c", b"d", b"e", b"f"),
        4,
    ),
    Case(
        "regex_utf8",
        regex_grammar("(é|ab)+"),
        (b"\xc3\xa9ab", b"ab\xc3\xa9\xc3\xa9", b"abab"),
        (b"a", b"b", b"\xc3", b"\xa9", b"\xc3\xa9", b"\xa9a", b"b\xc3", b"ab", b"\xa9ab"),
        (b"a", b"b", b"\xc3", b"\xa9"),
        3,
    ),
)


@pytest.fixture(scope="module")
def setups() -> dict[str, tuple[Checker, ReferenceChecker, Vocabulary]]:
    out = {}
    for case in CASES:
        vocab = Vocabulary.from_token_bytes([b"", *case.tokens], eos_token_ids=[EOS])
        out[case.name] = (Checker(compile_ir(case.grammar, vocab)), ReferenceChecker(case.grammar), vocab)
    return out


# --- brute force ----------------------------------------------------------------------


def brute_force(
    pattern: list, case: Case, reference: ReferenceChecker, vocab: Vocabulary, per_hole: int, total: int
) -> bool:
    """Whether some fill of the holes makes a word; unbounded fills have at most ``per_hole``
    units each and ``total`` units together."""

    def bounded_fills(prefix: bytes, hole: Hole) -> set[bytes]:
        counts = [hole.bound] if hole.exact else range(hole.bound + 1)
        return set().union(*(token_fills(prefix, count) for count in counts))

    def token_fills(prefix: bytes, count: int) -> set[bytes]:
        if count == 0:
            return {b""}
        out = set()
        for token in case.tokens:
            if reference.is_viable_prefix(prefix + token):
                out |= {token + rest for rest in token_fills(prefix + token, count - 1)}
        return out

    def unit_fills(prefix: bytes, budget: int) -> Iterator[tuple[bytes, int]]:
        """Viable fills with the units they use."""
        yield b"", 0
        if budget:
            for unit in case.fill_alphabet:
                if reference.is_viable_prefix(prefix + unit):
                    for rest, used in unit_fills(prefix + unit, budget - 1):
                        yield unit + rest, used + 1

    def search(prefix: bytes, rest: list, budget: int) -> bool:
        if not rest:
            return reference.is_complete(prefix)
        head, tail = rest[0], rest[1:]
        if isinstance(head, Hole) and head.is_bounded:
            return any(search(prefix + fill, tail, budget) for fill in bounded_fills(prefix, head))
        if isinstance(head, Hole):
            return any(
                search(prefix + fill, tail, budget - used)
                for fill, used in unit_fills(prefix, min(per_hole, budget))
            )
        text = prefix + known_text(head, vocab)
        return reference.is_viable_prefix(text) and search(text, tail, budget)

    return search(b"", pattern, total)


def known_text(item: bytes | list[int], vocab: Vocabulary) -> bytes:
    return item if isinstance(item, bytes) else b"".join(vocab.token_bytes[t] for t in item)


def dyck_bound(pattern: list, vocab: Vocabulary) -> int:
    """Fill bytes a balanced-bracket completion needs at most (see the module docstring)."""
    text = b"".join(known_text(item, vocab) for item in pattern if not isinstance(item, Hole))
    return sum(text.count(c) for c in b"()[]")


# --- patterns ---------------------------------------------------------------------------


@st.composite
def patterns(draw, case: Case, vocab: Vocabulary, bounded: bool, unbounded: bool) -> list:
    """A word (or a mutated one) with up to three spans replaced by holes; known text as bytes or ids."""
    word = bytearray(draw(st.sampled_from(case.words)))
    if draw(st.booleans()):
        position = draw(st.integers(0, len(word)))
        word[position:position] = draw(st.sampled_from([*case.fill_alphabet, b"\xff", b"]", b"a"]))
    cuts = sorted(draw(st.lists(st.integers(0, len(word)), min_size=0, max_size=6)))
    cuts = [0, *cuts[: len(cuts) // 2 * 2], len(word)]
    kinds = []
    if bounded:
        kinds += [Hole(tokens=k) for k in range(3)] + [Hole(max_tokens=k) for k in range(3)]
    if unbounded:
        kinds.append(Hole())
    pattern: list = []
    for i in range(0, len(cuts) - 1, 2):
        pattern.append(known_item(bytes(word[cuts[i] : cuts[i + 1]]), vocab, draw(st.booleans())))
        if i + 2 < len(cuts):
            pattern.append(draw(st.sampled_from(kinds)))
            # the span cuts[i+1]..cuts[i+2] is the hole's original content: dropped
    if draw(st.booleans()):
        pattern.insert(draw(st.integers(0, len(pattern))), draw(st.sampled_from(kinds)))
    return pattern


def known_item(data: bytes, vocab: Vocabulary, as_ids: bool) -> bytes | list[int]:
    """``data`` as token ids of single-byte tokens when asked and possible, else as bytes."""
    ids = [vocab.token_bytes.index(bytes([b])) if bytes([b]) in vocab.token_bytes else -1 for b in data]
    return ids if as_ids and -1 not in ids else data


HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("staged", [False, True], ids=["direct", "staged"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@HYPOTHESIS
@given(data=st.data())
def test_bounded_holes_exact(case: Case, staged: bool, data, setups) -> None:
    """``staged``: as for a real vocabulary, the widened and narrowed searches run first."""
    checker, reference, vocab = setups[case.name]
    pattern = data.draw(patterns(case, vocab, bounded=True, unbounded=False))
    expected = brute_force(pattern, case, reference, vocab, per_hole=0, total=0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checker_module, "SMALL_AUTOMATON", 0 if staged else checker_module.SMALL_AUTOMATON)
        assert checker.is_completable(pattern) == expected, pattern


EXACT_UNBOUNDED = [c for c in CASES if c.name == "dyck" or c.exact_fill_bound is not None]


@pytest.mark.parametrize("case", EXACT_UNBOUNDED, ids=lambda c: c.name)
@HYPOTHESIS
@given(data=st.data())
def test_unbounded_holes_exact(case: Case, data, setups) -> None:
    checker, reference, vocab = setups[case.name]
    pattern = data.draw(patterns(case, vocab, bounded=False, unbounded=True))
    # the brute force is exponential in the number of unbounded holes (four took it 90 s)
    assume(sum(isinstance(item, Hole) for item in pattern) <= 2)
    if case.name == "dyck":
        per_hole = total = dyck_bound(pattern, vocab)
    else:
        per_hole, total = case.exact_fill_bound, case.exact_fill_bound * len(pattern)
    expected = brute_force(pattern, case, reference, vocab, per_hole=per_hole, total=total)
    assert checker.is_completable(pattern) == expected, pattern


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@HYPOTHESIS
@given(data=st.data())
def test_mixed_holes_sound(case: Case, data, setups) -> None:
    """Every completion the brute force finds (unbounded fills of up to 2 units) is seen by the checker."""
    checker, reference, vocab = setups[case.name]
    pattern = data.draw(patterns(case, vocab, bounded=True, unbounded=True))
    if brute_force(pattern, case, reference, vocab, per_hole=2, total=2):
        assert checker.is_completable(pattern), pattern


# --- consecutive checks ------------------------------------------------------------------


@pytest.fixture(scope="module")
def uncached() -> dict[str, Checker]:
    """Checkers that never resume a kept search: every check starts from scratch."""
    return {case.name: Checker(compile_ir(case.grammar, setups_vocab(case)), reuse=False) for case in CASES}


def setups_vocab(case: Case) -> Vocabulary:
    return Vocabulary.from_token_bytes([b"", *case.tokens], eos_token_ids=[EOS])


@pytest.mark.parametrize("staged", [False, True], ids=["direct", "staged"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@HYPOTHESIS
@given(data=st.data())
def test_consecutive_checks_match_fresh_ones(case: Case, staged: bool, data, setups, uncached) -> None:
    """A decoding-like run: a canvas of token slots, unmasked or remasked one position at a time;
    the checker that resumes its kept searches gives every verdict a fresh search gives."""
    checker, _, vocab = setups[case.name]
    mask = vocab.size
    is_eos = np.arange(vocab.size + 1) == EOS
    token_ids = st.sampled_from([EOS, *range(1, vocab.size)])
    length = data.draw(st.integers(1, 8))
    canvas = np.array(data.draw(st.lists(token_ids | st.just(mask), min_size=length, max_size=length)))
    edits = data.draw(st.lists(st.tuples(st.integers(0, length - 1), token_ids | st.just(mask)), max_size=10))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checker_module, "SMALL_AUTOMATON", 0 if staged else checker_module.SMALL_AUTOMATON)
        for position, token in [(0, canvas[0]), *edits]:
            canvas[position] = token
            if violates_padding(canvas, mask, is_eos):
                continue
            segments = canvas_segments(canvas, mask, is_eos)
            expected = uncached[case.name].is_completable(segments)
            assert checker.is_completable(segments) == expected, segments
