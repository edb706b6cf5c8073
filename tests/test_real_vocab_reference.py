"""Masks over real 32k-151k vocabularies agree with the brute-force reference.

Checking every token of a 128k vocabulary against the slow reference at every step would
take minutes, so each step checks a random sample of the tokens the engine allows and of
those it refuses (always including the byte-fallback and partial-UTF-8 tokens, the most
delicate ones), along random walks that choose among the allowed tokens.
"""

from __future__ import annotations

import numpy as np
import pytest

from constrain import Vocabulary, compile_ir, load_grammar
from constrain.bundled_tokenizers import bundled_tokenizer_names, load_bundled_tokenizer
from constrain.lark_frontend import grammar_from_lark
from constrain.testing import ReferenceChecker

SAMPLE = 150
STEPS = 10


def is_partial_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return True
    return False


@pytest.mark.parametrize("tokenizer_name", bundled_tokenizer_names())
@pytest.mark.parametrize("grammar_name", ["json", "arithmetic"])
def test_sampled_mask_equals_reference_on_random_walks(tokenizer_name, grammar_name):
    vocab = Vocabulary.from_tokenizer(load_bundled_tokenizer(tokenizer_name))
    grammar = grammar_from_lark(load_grammar(grammar_name))
    reference = ReferenceChecker(grammar)
    compiled = compile_ir(grammar, vocab)
    partial = np.array([i for i, t in enumerate(vocab.token_bytes) if t and is_partial_utf8(t)])
    rng = np.random.default_rng(sum(map(ord, tokenizer_name + grammar_name)))
    mask = vocab.allocate_bitmask()
    for _ in range(3):
        matcher, text = compiled.matcher(), b""
        for _ in range(STEPS):
            matcher.fill_bitmask(mask)
            bits = np.unpackbits(mask.view(np.uint8), bitorder="little")[: vocab.size].astype(bool)
            allowed, refused = np.flatnonzero(bits), np.flatnonzero(~bits)
            sample = np.concatenate(
                [
                    rng.choice(allowed, min(SAMPLE, len(allowed)), replace=False),
                    rng.choice(refused, min(SAMPLE, len(refused)), replace=False),
                    rng.choice(partial, min(SAMPLE // 3, len(partial)), replace=False)
                    if len(partial)
                    else [],
                ]
            ).astype(int)
            for token in sample.tolist():
                data = vocab.token_bytes[token]
                if token in vocab.eos_token_ids:
                    expected = reference.is_complete(text)
                else:
                    expected = bool(data) and reference.is_viable_prefix(text + data)
                assert bits[token] == expected, f"token {token} {data!r} after {text!r}"
            choices = [t for t in allowed.tolist() if t not in vocab.eos_token_ids]
            if not choices:
                break
            token = int(rng.choice(choices))
            assert matcher.advance(token)
            text += vocab.token_bytes[token]
