"""Fast-forward: stable canonical tokens for forced bytes, the same language, and exact SMC weights.

The toy vocabulary has several tokenizations of every forced stretch ("abcd" is abc+d,
ab+cd, a+bc+d, ...), so committing one of them restricts which token sequences SMC can
produce. The target is then the model restricted to those sequences, which the exact
enumeration in :mod:`constrain.testing_lm` walks the same way; a particle that skipped the
forced tokens' model probabilities would be measurably off.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import numpy as np
import pytest

import constrain
from constrain.errors import VocabularyError
from constrain.fast_forward import ForcedTokens
from constrain.sampling import smc
from constrain.testing_lm import TableLM, exact_language_distribution

TOKENS = [b"", b"a", b"b", b"c", b"d", b"ab", b"abc", b"cd", b"bc", b"{", b"}", b",", b"{a", b"b}"]
EOS = 0
VOCAB = constrain.Vocabulary.from_token_bytes(TOKENS, eos_token_ids=[EOS])
ID = {data: token for token, data in enumerate(TOKENS) if data}

# Grammars with forced stretches, as regexes over the toy bytes (checked with re.fullmatch).
REGEXES = ["(d|c)abcd(a|b)?", "abcabd|abd", "(ab)*cdabcd", r"\{(ab|cd)(,(ab|cd))*\}", "(a|b)cdd(a|b)"]


def _spell(tokens) -> bytes:
    return b"".join(TOKENS[t] for t in tokens)


@pytest.fixture(scope="module")
def forced():
    return ForcedTokens(VOCAB)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"abcd", [b"abc", b"d"]),  # nothing starts with "d" or "cd" and goes on: all stable
        (b"abc", []),  # "c" may become "cd": the only token, abc, spans the cut
        (b"abca", [b"abc"]),  # "a" may become "ab"/"abc"
        (b"dabcd", [b"d", b"abc", b"d"]),
        (b"{ab}", [b"{a", b"b}"]),  # "}" ends every token that reaches it
        (b"", []),
    ],
)
def test_stable_tokens_cut_where_a_token_could_span_the_end(forced, data, expected):
    assert [TOKENS[t] for t in forced.stable_tokens(data)] == expected


def test_a_tokenizer_that_does_not_spell_the_bytes_commits_nothing():
    adds_a_prefix = ForcedTokens(VOCAB, tokenize=lambda data: [ID[b"a"], *[ID[bytes([b])] for b in data]])
    assert adds_a_prefix.stable_tokens(b"dd") == ()
    with_a_special_token = ForcedTokens(VOCAB, tokenize=lambda data: [EOS, ID[b"d"]])
    assert with_a_special_token.stable_tokens(b"d") == ()


def test_the_default_instance_is_shared_per_vocabulary():
    assert ForcedTokens.for_vocabulary(VOCAB) is ForcedTokens.for_vocabulary(VOCAB)
    assert ForcedTokens.for_vocabulary(VOCAB).stable_tokens(b"abcd") == (ID[b"abc"], ID[b"d"])


def test_advance_commits_forced_tokens_within_the_limit(forced):
    grammar = constrain.compile_regex("(d|c)abcd(a|b)?", VOCAB)
    matcher = grammar.matcher()
    assert forced.advance(matcher, 10) == []  # d or c: no forced bytes yet
    assert matcher.advance(ID[b"d"])
    assert matcher.forced_bytes() == b"abcd"
    assert forced.advance(matcher.copy(), 1) == [ID[b"abc"]]
    assert forced.advance(matcher, 10) == [ID[b"abc"], ID[b"d"]]
    assert matcher.forced_bytes() == b"" and matcher.is_accepting()
    assert forced.advance(matcher, 10) == []


def _random_walk(grammar, forced: ForcedTokens | None, rng, max_tokens: int) -> tuple[bytes, int]:
    """Uniformly random allowed tokens, with fast-forward between them; (text, forced count)."""
    matcher, tokens, n_forced = grammar.matcher(), [], 0
    mask = VOCAB.allocate_bitmask()
    while not matcher.is_terminated() and len(tokens) < max_tokens:
        if forced is not None:
            committed = forced.advance(matcher, max_tokens - len(tokens))
            tokens += committed
            n_forced += len(committed)
            if len(tokens) >= max_tokens:
                break
        matcher.fill_bitmask(mask)
        allowed = [t for t in range(VOCAB.size) if (int(mask[t // 32]) >> (t % 32)) & 1]
        token = int(rng.choice(allowed))
        assert matcher.advance(token)
        tokens.append(token)
    complete = matcher.is_terminated()
    return (_spell(tokens) if complete else b"", n_forced)


@pytest.mark.parametrize("pattern", REGEXES)
def test_fast_forward_outputs_stay_in_the_language(forced, pattern):
    grammar = constrain.compile_regex(pattern, VOCAB)
    rng = np.random.default_rng(0)
    total_forced = 0
    for _ in range(200):
        text, n_forced = _random_walk(grammar, forced, rng, max_tokens=12)
        total_forced += n_forced
        if text:
            assert re.fullmatch(pattern.encode(), text), text
    assert total_forced > 0  # fast-forward did commit tokens on every grammar here


UNIFORM = TableLM(len(TOKENS))


@pytest.mark.parametrize("pattern", REGEXES)
def test_fast_forward_keeps_every_text_of_the_language(forced, pattern):
    """Every text reachable without fast-forward is reachable with it, and nothing else is."""
    grammar = constrain.compile_regex(pattern, VOCAB)
    max_tokens = 9
    without, _ = exact_language_distribution(UNIFORM, grammar, max_tokens)
    with_ff, _ = exact_language_distribution(UNIFORM, grammar, max_tokens, forced)
    texts_without = {_spell(seq) for seq in without}
    texts_with = {_spell(seq) for seq in with_ff}
    assert texts_with <= texts_without
    # A text of n bytes has at most n tokens plus EOS in any tokenization fast-forward picks.
    assert {t for t in texts_without if len(t) < max_tokens} <= texts_with
    assert len(with_ff) <= len(without)  # forced stretches have one tokenization, not several


A, B, C, D, AB, ABC = (ID[t] for t in (b"a", b"b", b"c", b"d", b"ab", b"abc"))
# After "d" the model rarely spells the forced "abcd" as abc+d, after "c" it often does; so the
# forced tokens' probabilities decide how likely each first letter is under the target.
FORCED_LM = TableLM(
    len(TOKENS),
    {
        (): {D: 0.4, C: 0.4, A: 0.2},
        (D,): {ABC: 0.05, AB: 0.5, A: 0.45},
        (C,): {ABC: 0.6, AB: 0.2, A: 0.2},
        (D, ABC): {D: 0.5, C: 0.5},
        (C, ABC): {D: 0.5, C: 0.5},
        (D, ABC, D): {EOS: 0.5, A: 0.3, B: 0.2},
        (C, ABC, D): {EOS: 0.2, A: 0.2, B: 0.6},
    },
)
FORCING = constrain.compile_regex("(d|c)abcd(a|b)?", VOCAB)


def _by_text(distribution: dict[tuple[int, ...], float]) -> dict[bytes, float]:
    by_text: dict[bytes, float] = defaultdict(float)
    for tokens, probability in distribution.items():
        by_text[_spell(tokens)] += probability
    return by_text


def _weighted_texts(result) -> dict[bytes, float]:
    log_weights = np.array([w for _, w in result.particles])
    weights = np.exp(log_weights - log_weights.max())
    by_text: dict[bytes, float] = defaultdict(float)
    for (tokens, _), weight in zip(result.particles, weights / weights.sum(), strict=True):
        by_text[_spell(tokens)] += weight
    return by_text


def _total_variation(p: dict, q: dict) -> float:
    return 0.5 * sum(abs(p.get(key, 0.0) - q.get(key, 0.0)) for key in set(p) | set(q))


def test_smc_with_fast_forward_targets_the_forced_tokenizations_exactly(forced):
    exact, normalizer = exact_language_distribution(FORCED_LM, FORCING, 7, forced)
    result = smc(FORCED_LM, FORCING, 2000, 7, np.random.default_rng(0), forced=forced)
    assert sum(result.n_forced) > 0
    # Measured 0.008; an SMC that skipped the forced tokens' probabilities measured 0.54.
    assert _total_variation(_weighted_texts(result), _by_text(exact)) < 0.05
    # Measured 0.0353 against the exact 0.0362 (the same mutant estimated 0.319).
    assert math.exp(result.log_marginal_likelihood) == pytest.approx(normalizer, rel=0.25)
    # The check can fail: forgetting the forced tokens' probabilities targets another law.
    unweighted = _forced_tokens_for_free(exact, forced)
    assert _total_variation(_by_text(unweighted), _by_text(exact)) > 0.15  # exactly 0.53


def _forced_tokens_for_free(exact: dict[tuple[int, ...], float], forced: ForcedTokens):
    """The exact law if forced tokens had probability 1: divide their probabilities out again."""
    masses = {}
    for tokens, probability in exact.items():
        matcher, mass = FORCING.matcher(), probability
        for position, token in enumerate(tokens):
            if token in forced.advance(matcher.copy(), 1):
                mass /= FORCED_LM.probs(tokens[:position])[token]
            matcher.advance(token)
        masses[tokens] = mass
    total = sum(masses.values())
    return {tokens: mass / total for tokens, mass in masses.items()}


def test_smc_marginal_likelihood_with_fast_forward_is_unbiased(forced):
    _, normalizer = exact_language_distribution(FORCED_LM, FORCING, 7, forced)
    estimates = np.array(
        [
            math.exp(
                smc(
                    FORCED_LM, FORCING, 20, 7, np.random.default_rng(s), forced=forced
                ).log_marginal_likelihood
            )
            for s in range(200)
        ]
    )
    standard_error = estimates.std(ddof=1) / math.sqrt(len(estimates))
    assert abs(estimates.mean() - normalizer) < 4 * standard_error


def test_real_tokenizer_commits_a_stable_prefix_of_the_canonical_encoding():
    from constrain.bundled_tokenizers import load_bundled_tokenizer

    try:
        tokenizer = load_bundled_tokenizer("gpt2")
    except VocabularyError as error:
        pytest.skip(str(error))
    vocab = constrain.Vocabulary.from_tokenizer(tokenizer)
    forced = ForcedTokens(vocab)
    for text in ['{"name":"', '{"firstName": ', "true", '"age"', "déjà"[:3]]:
        stable = list(forced.stable_tokens(text.encode()))
        canonical = tokenizer.encode(text)
        assert stable == canonical[: len(stable)] and len(stable) < len(canonical)
    assert [vocab.token_bytes[t] for t in forced.stable_tokens(b'{"firstName": ')] == [
        b'{"',
        b"first",
        b"Name",
        b'":',
    ]
    # Cut inside a multi-byte character: only the valid UTF-8 prefix is tokenized.
    assert forced.stable_tokens("dé".encode()[:-1]) == forced.stable_tokens(b"d")
