"""Valid texts are accepted and invalid ones rejected, token by token, with real vocabularies.

For every bundled grammar and each real tokenizer (Llama-3, Qwen3, GPT-2, Mistral
sentencepiece), each accept text is tokenized by the tokenizer itself; every token must
be in the mask before it is consumed and the end token must be allowed at the end. Each
reject text must hit a token outside the mask, or end without the end token allowed.
"""

from __future__ import annotations

import numpy as np
import pytest

from constrain import Vocabulary, compile_grammar, load_grammar
from constrain.bundled_tokenizers import bundled_tokenizer_names, load_bundled_tokenizer
from tests.grammar_cases import BUNDLED_CASES


@pytest.fixture(scope="module", params=bundled_tokenizer_names())
def tokenizer_and_vocab(request):
    tokenizer = load_bundled_tokenizer(request.param)
    return tokenizer, Vocabulary.from_tokenizer(tokenizer)


def walk(matcher, ids: list[int], vocab: Vocabulary) -> bool:
    """Whether every token is in the mask when it is consumed and the end token closes."""
    mask = vocab.allocate_bitmask()
    for token in ids:
        matcher.fill_bitmask(mask)
        in_mask = bool((mask[token >> 5] >> (token & 31)) & 1)
        if in_mask != matcher.is_allowed(token):
            raise AssertionError(f"mask and is_allowed disagree on token {token}")
        if not in_mask:
            return False
        assert matcher.advance(token)
    matcher.fill_bitmask(mask)
    eos = vocab.eos_token_id
    return bool((mask[eos >> 5] >> (eos & 31)) & 1) and matcher.is_accepting()


@pytest.mark.parametrize("case", BUNDLED_CASES, ids=lambda c: c.name)
def test_accept_and_reject_texts_token_by_token(case, tokenizer_and_vocab):
    tokenizer, vocab = tokenizer_and_vocab
    grammar = compile_grammar(load_grammar(case.name), vocab)
    for text in case.accept:
        ids = tokenizer.encode(text, add_special_tokens=False)
        ids = _without_sentencepiece_prefix(ids, text, vocab)
        assert walk(grammar.matcher(), ids, vocab), f"valid text rejected: {text!r}"
    for text in case.reject:
        ids = _without_sentencepiece_prefix(tokenizer.encode(text, add_special_tokens=False), text, vocab)
        assert not walk(grammar.matcher(), ids, vocab), f"invalid text accepted: {text!r}"


def _without_sentencepiece_prefix(ids: list[int], text: str, vocab: Vocabulary) -> list[int]:
    """Token ids whose bytes are exactly the text: sentencepiece adds a space at the start."""
    data = b"".join(vocab.token_bytes[i] for i in ids)
    if data == text.encode():
        return ids
    assert data == b" " + text.encode(), (data, text)
    first = vocab.token_bytes[ids[0]]
    assert first.startswith(b" ")
    rest = first[1:]  # spelled with byte-fallback tokens, which sentencepiece vocabularies have
    return [*(vocab.token_bytes.index(bytes([b])) for b in rest), *ids[1:]]


def test_partial_utf8_tokens_are_exact():
    """Byte-fallback tokens that split a character are allowed exactly when a completion is."""
    tokenizer = load_bundled_tokenizer("mistral")
    vocab = Vocabulary.from_tokenizer(tokenizer)
    grammar = compile_grammar('start: "\\"" /[é€😀]+/ "\\""', vocab)
    byte_token = {vocab.token_bytes.index(bytes([b])): bytes([b]) for b in (0xC3, 0xA9, 0xE2, 0xF0, 0xC4)}
    matcher = grammar.matcher()
    assert matcher.advance(vocab.token_bytes.index(b'"'))
    mask = vocab.allocate_bitmask()
    matcher.fill_bitmask(mask)
    bits = np.unpackbits(mask.view(np.uint8), bitorder="little")
    allowed = {data for token, data in byte_token.items() if bits[token]}
    # é = C3 A9, € = E2 82 AC, 😀 = F0 9F 98 80; C4 starts no allowed character, A9 is no lead byte
    assert allowed == {b"\xc3", b"\xe2", b"\xf0"}
    assert matcher.advance(vocab.token_bytes.index(b"\xc3"))
    matcher.fill_bitmask(mask)
    bits = np.unpackbits(mask.view(np.uint8), bitorder="little")
    assert {data for token, data in byte_token.items() if bits[token]} == {b"\xa9"}
