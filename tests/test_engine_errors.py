"""Bad input to the engine gets a clear error naming what to fix, never a crash or a hang."""

from __future__ import annotations

import time

import pytest

from constrain import (
    CompileBudgetError,
    GrammarError,
    MatcherError,
    Vocabulary,
    compile_grammar,
    compile_regex,
)


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.from_token_bytes([b"", *(bytes([b]) for b in range(256)), b"ab"], eos_token_ids=[0])


def test_malformed_grammar_reports_line_and_column(vocab):
    with pytest.raises(GrammarError, match=r"malformed grammar.*line 2, column \d+") as caught:
        compile_grammar('start: "a"\nitem: ( "b" \n', vocab)
    assert caught.value.line == 2


def test_undefined_rule_is_named(vocab):
    with pytest.raises(GrammarError, match="missing_rule"):
        compile_grammar('start: "a" missing_rule', vocab)


def test_undefined_start_rule(vocab):
    with pytest.raises(GrammarError, match="begin"):
        compile_grammar('start: "a"', vocab, start="begin")


def test_empty_language_is_an_error(vocab):
    with pytest.raises(GrammarError, match="language is empty"):
        compile_grammar('start: loop\nloop: "a" loop', vocab)


@pytest.mark.parametrize(
    ("pattern", "feature"),
    [("(?<=a)b", "lookbehind"), ("a(?=b)", "lookahead"), (r"(a)\1", "backreference"), (r"\bword", r"\\b")],
)
def test_unsupported_regex_feature_is_named(vocab, pattern, feature):
    with pytest.raises(GrammarError, match=feature):
        compile_regex(pattern, vocab)


def test_unsupported_feature_in_lark_terminal_names_the_terminal(vocab):
    with pytest.raises(GrammarError, match="WORD"):
        compile_grammar("start: WORD\nWORD: /(?<!x)y/", vocab)


def test_regex_budget_is_an_error_not_a_stall(vocab):
    start = time.monotonic()
    with pytest.raises(CompileBudgetError):
        compile_regex("(a|b)*a(a|b){40}", vocab)
    assert time.monotonic() - start < 30


def test_token_id_out_of_range(vocab):
    matcher = compile_regex("ab", vocab).matcher()
    for bad in (-1, vocab.size, 10**9):
        with pytest.raises(MatcherError, match="out of range"):
            matcher.advance(bad)


def test_rollback_past_start(vocab):
    matcher = compile_regex("ab", vocab).matcher()
    assert matcher.advance(ord("a") + 1)
    with pytest.raises(MatcherError, match="only 1 were consumed"):
        matcher.rollback(2)


def test_bitmask_of_wrong_shape_or_dtype(vocab):
    import numpy as np

    matcher = compile_regex("ab", vocab).matcher()
    with pytest.raises(MatcherError, match="int32"):
        matcher.fill_bitmask(np.zeros(9, dtype=np.int64))
    with pytest.raises(MatcherError, match="at least 9"):
        matcher.fill_bitmask(np.zeros(3, dtype=np.int32))
    with pytest.raises(MatcherError, match="not a row"):
        matcher.fill_bitmask(vocab.allocate_bitmask(batch=2), index=5)
