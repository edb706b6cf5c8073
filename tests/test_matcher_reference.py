"""The matcher's masks against the brute-force reference, along random walks.

At every step of a random walk, every token of a small vocabulary is allowed by the
mask iff the text so far plus its bytes is a viable prefix (reference), and the end
token iff the text is complete. The reference shares no code with the engine.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constrain import Vocabulary, compile_ir, load_grammar
from constrain.lark_frontend import grammar_from_lark
from constrain.testing import ReferenceChecker
from tests.grammar_cases import ALL_CASES, GrammarCase

EOS = 0


def small_vocabulary(texts: list[str]) -> tuple[list[bytes], Vocabulary]:
    """Single bytes the texts use, a few invalid-UTF-8 pieces, and multi-byte chunks of the texts."""
    data = [t.encode() for t in texts]
    pieces: dict[bytes, None] = {}
    for text in data:
        pieces.update(dict.fromkeys(bytes([b]) for b in text))
        for width in (2, 3, 5):
            pieces.update(
                dict.fromkeys(text[i : i + width] for i in range(0, max(len(text) - width, 0) + 1, 2))
            )
    pieces.update(dict.fromkeys([b"\xe2", b"\x82\xac", b"\xff", b" ", b"\n", b"x", b"0"]))
    tokens = [b"", *pieces]
    return tokens, Vocabulary.from_token_bytes(tokens, eos_token_ids=[EOS])


def allowed_tokens(matcher, vocab: Vocabulary) -> set[int]:
    mask = vocab.allocate_bitmask()
    matcher.fill_bitmask(mask)
    bits = np.unpackbits(mask.view(np.uint8), bitorder="little")[: vocab.size]
    return set(np.flatnonzero(bits).tolist())


def reference_tokens(reference: ReferenceChecker, tokens: list[bytes], text: bytes) -> set[int]:
    allowed = {i for i, t in enumerate(tokens) if t and reference.is_viable_prefix(text + t)}
    if reference.is_complete(text):
        allowed.add(EOS)
    return allowed


def grammar_text(case: GrammarCase) -> str:
    return case.grammar if case.grammar is not None else load_grammar(case.name)


@pytest.fixture(scope="module")
def compiled_cases() -> dict:
    """Per case: its tokens, vocabulary, reference and compiled grammar, built once."""
    out = {}
    for case in ALL_CASES:
        grammar = grammar_from_lark(grammar_text(case))
        tokens, vocab = small_vocabulary([*case.accept, *case.reject])
        out[case.name] = (tokens, vocab, ReferenceChecker(grammar), compile_ir(grammar, vocab))
    return out


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mask_equals_reference_along_random_walks(case, data, compiled_cases):
    tokens, vocab, reference, compiled = compiled_cases[case.name]
    matcher = compiled.matcher()
    text = b""
    for _ in range(12):
        engine = allowed_tokens(matcher, vocab)
        assert engine == reference_tokens(reference, tokens, text), f"after {text!r}"
        choices = sorted(engine - {EOS})
        if not choices:
            break
        token = data.draw(st.sampled_from(choices))
        assert matcher.advance(token)
        text += tokens[token]
    assert matcher.is_accepting() == reference.is_complete(text)
