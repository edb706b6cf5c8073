"""The matcher's contract: advance, rollback, copy, completion, end tokens, forced bytes."""

from __future__ import annotations

import numpy as np
import pytest

from constrain import Vocabulary, compile_grammar, compile_regex

TOKENS = [b"", b"a", b"b", b"ab", b'{"', b'"', b"}", b":", b" ", b"1", b'":', b"<pad>"]
EOS = 0


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.from_token_bytes(TOKENS, eos_token_ids=[EOS], vocab_size=40)


def allowed(matcher, vocab) -> set[bytes]:
    mask = vocab.allocate_bitmask()
    matcher.fill_bitmask(mask)
    ids = np.flatnonzero(np.unpackbits(mask.view(np.uint8), bitorder="little")[: vocab.size])
    return {TOKENS[i] if i < len(TOKENS) else i for i in ids}


def test_mask_tracks_the_language(vocab):
    matcher = compile_regex("a+b", vocab).matcher()
    assert allowed(matcher, vocab) == {b"a", b"ab"}
    assert matcher.advance(TOKENS.index(b"a"))
    assert allowed(matcher, vocab) == {b"a", b"b", b"ab"}
    assert not matcher.advance(TOKENS.index(b"}"))
    assert matcher.advance(TOKENS.index(b"b"))
    assert allowed(matcher, vocab) == {b""}  # only the end token
    assert matcher.is_accepting() and not matcher.is_terminated()


def test_end_token_only_when_complete_then_terminated(vocab):
    matcher = compile_regex("ab", vocab).matcher()
    assert not matcher.advance(EOS)
    assert matcher.advance(TOKENS.index(b"ab"))
    assert matcher.advance(EOS)
    assert matcher.is_terminated() and matcher.is_accepting()
    assert allowed(matcher, vocab) == {b""}
    assert not matcher.advance(TOKENS.index(b"a"))


def test_padding_ids_and_non_text_tokens_are_never_allowed(vocab):
    matcher = compile_regex(".*", vocab).matcher()
    assert all(isinstance(t, bytes) for t in allowed(matcher, vocab))
    assert not matcher.advance(35)  # a padding id past the tokenizer


def test_rollback_restores_state_exactly(vocab):
    matcher = compile_regex("(ab)+", vocab).matcher()
    before = allowed(matcher, vocab)
    for token in (b"a", b"b", b"ab"):
        assert matcher.advance(TOKENS.index(token))
    assert matcher.is_accepting()
    matcher.rollback(2)
    assert allowed(matcher, vocab) == {b"b"}
    matcher.rollback(1)
    assert allowed(matcher, vocab) == before
    matcher.rollback(0)
    assert matcher.n_consumed == 0


def test_copy_is_independent(vocab):
    matcher = compile_regex("a|b", vocab).matcher()
    clone = matcher.copy()
    assert matcher.advance(TOKENS.index(b"a"))
    assert clone.advance(TOKENS.index(b"b"))
    assert matcher.is_accepting() and clone.is_accepting()
    assert matcher.n_consumed == clone.n_consumed == 1


def test_forced_bytes_cross_lexeme_boundaries(vocab):
    grammar = 'start: "{" KEY ":" "1" "}"\nKEY: /"[a-z]"/'
    matcher = compile_grammar(grammar, vocab).matcher()
    assert matcher.forced_bytes() == b'{"'
    assert matcher.advance(TOKENS.index(b'{"'))
    assert matcher.forced_bytes() == b""  # the key letter is a choice
    assert matcher.advance(TOKENS.index(b"a"))
    assert matcher.forced_bytes() == b'":1}'


def test_bitmask_rows_and_wide_rows(vocab):
    matcher = compile_regex("a", vocab).matcher()
    masks = np.full((3, 4), -1, dtype=np.int32)
    matcher.fill_bitmask(masks, index=1)
    assert masks[1, 0] == 1 << TOKENS.index(b"a") and not masks[1, 1:].any()
    assert (masks[0] == -1).all() and (masks[2] == -1).all()


def test_token_spanning_lexemes_with_ignored_whitespace(vocab):
    grammar = 'start: "{" STR ":" NUM "}"\nSTR: /"[ab]*"/\nNUM: /[0-9]+/\n%ignore " "'
    matcher = compile_grammar(grammar, vocab).matcher()
    for token in (b'{"', b"ab", b'":', b" ", b" ", b"1", b" ", b"}"):
        assert matcher.advance(TOKENS.index(token)), token
    assert matcher.is_accepting()


def test_walks_shared_across_grammars_give_the_same_masks(vocab):
    """Grammars whose lexer states have the same shape share trie walks; masks must not change."""
    from constrain import token_automaton

    first = 'start: "{" STR ":" NUM "}"\nSTR: /"[ab]*"/\nNUM: /[0-9]+/\n%ignore " "'
    second = 'start: NUM ":" STR\nSTR: /"[ab]*"/\nNUM: /[0-9]+/\n%ignore " "'
    texts = [b'{"', b"ab", b'":', b" ", b"1"]

    def masks_along(grammar_text: str, tokens: list[bytes]) -> list[set[bytes]]:
        matcher = compile_grammar(grammar_text, vocab).matcher()
        out = [allowed(matcher, vocab)]
        for token in tokens:
            if matcher.advance(TOKENS.index(token)):
                out.append(allowed(matcher, vocab))
        return out

    token_automaton._SHARED_WALKS.clear()
    alone = masks_along(second, [b"1", b'":'])
    masks_along(first, texts)  # fills the shared walks with the first grammar's lexer states
    assert masks_along(second, [b"1", b'":']) == alone
