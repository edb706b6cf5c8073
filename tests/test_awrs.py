"""AWRS: exact samples, properly weighted weights and few checks, against exact toy distributions.

Every test is seeded, so each statistic below is deterministic. The thresholds are the
usual 0.1% chi-square critical values and 4 standard errors. They would flag a wrong sampler or
estimator (shown by running the same checks on deliberately wrong ones).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import constrain
from constrain.errors import SamplingError
from constrain.sampling import AWRSResult, awrs, awrs_step
from constrain.testing_lm import locally_constrained

VOCAB = constrain.Vocabulary.from_token_bytes(
    [b"", b"a", b"b", b"c", b"d", b"e", b"f", b"g"], eos_token_ids=[0]
)
GRAMMAR = constrain.compile_regex("[aceg]b*", VOCAB)  # first token: one of a, c, e, g (ids 1, 3, 5, 7)

# Model distributions over the 8 ids; Z = the allowed mass.
SPREAD = np.array([0.05, 0.30, 0.25, 0.02, 0.15, 0.03, 0.12, 0.08])  # Z = 0.43
PEAKED = np.array([0.01, 0.80, 0.05, 0.02, 0.04, 0.03, 0.03, 0.02])  # Z = 0.87, top allowed
PEAKED_WRONG = np.array([0.01, 0.05, 0.75, 0.02, 0.04, 0.03, 0.06, 0.04])  # Z = 0.14, top rejected

CASES = [
    # (probs, variant, max_rejections): both estimators, and both exact fallbacks
    (SPREAD, "auto", 64),  # recursive
    (PEAKED, "auto", 64),  # geometric
    (PEAKED_WRONG, "auto", 64),  # geometric, rejecting the top token
    (SPREAD, "geometric", 64),
    (PEAKED, "recursive", 64),
    (SPREAD, "recursive", 1),  # falls back to the full mask after one rejection
    (PEAKED_WRONG, "geometric", 1),
]
CASE_IDS = ["recursive", "geometric", "geometric-top-rejected", "forced-geometric", "forced-recursive"]
CASE_IDS += ["recursive-fallback", "geometric-fallback"]

N_DRAWS = 8000
CHI2_CRITICAL_DF3 = 16.266  # P(chi2 with 3 d.o.f. > 16.266) = 0.001; 4 allowed tokens -> 3 d.o.f.


def _run(probs: np.ndarray, variant: str, max_rejections: int, seed: int = 0) -> list[AWRSResult]:
    matcher = GRAMMAR.matcher()

    def full_mask() -> np.ndarray:
        words = VOCAB.allocate_bitmask()
        matcher.fill_bitmask(words)
        return words

    rng = np.random.default_rng(seed)
    logprobs = np.log(probs)
    return [
        awrs_step(
            logprobs,
            matcher.is_allowed,
            rng,
            max_rejections=max_rejections,
            full_mask=full_mask,
            variant=variant,
        )
        for _ in range(N_DRAWS)
    ]


def _chi_square(tokens: list[int], target: np.ndarray) -> float:
    """Pearson statistic over the tokens the target gives positive probability."""
    support = np.flatnonzero(target)
    observed = np.bincount(tokens, minlength=len(target))
    assert observed[target == 0].sum() == 0, "a disallowed token was sampled"
    expected = len(tokens) * target[support]
    return float(((observed[support] - expected) ** 2 / expected).sum())


@pytest.mark.parametrize(("probs", "variant", "max_rejections"), CASES, ids=CASE_IDS)
def test_samples_follow_the_locally_constrained_distribution(probs, variant, max_rejections):
    target = locally_constrained(probs, GRAMMAR.matcher())  # SPREAD: [0, .698, 0, .047, 0, .070, 0, .186]
    results = _run(probs, variant, max_rejections)
    assert _chi_square([r.token for r in results], target) < CHI2_CRITICAL_DF3
    if max_rejections == 1:
        used = np.mean([r.used_full_mask for r in results])
        assert used > 0.2  # SPREAD rejects the first draw 57% of the time, PEAKED_WRONG most of the time


def test_the_chi_square_check_rejects_a_wrong_sampler():
    """Gumbel noise added to probabilities instead of log probabilities: a plausible bug."""
    rng = np.random.default_rng(0)
    allowed = np.array([GRAMMAR.matcher().is_allowed(t) for t in range(len(SPREAD))])
    tokens = []
    for _ in range(N_DRAWS):
        keys = np.where(allowed, SPREAD + rng.gumbel(size=len(SPREAD)), -np.inf)
        tokens.append(int(np.argmax(keys)))
    target = locally_constrained(SPREAD, GRAMMAR.matcher())
    assert _chi_square(tokens, target) > 10 * CHI2_CRITICAL_DF3


def _test_functions() -> dict[str, np.ndarray]:
    ids = np.arange(len(SPREAD), dtype=float)
    return {
        "one": np.ones(len(SPREAD)),
        "is_a": (ids == 1) * 1.0,
        "id": ids,
        "e_or_g": np.isin(ids, [5, 7]) * 1.0,
    }


def _assert_properly_weighted(tokens: list[int], weights: np.ndarray, probs: np.ndarray) -> None:
    """E[w h(x)] = sum over allowed x of p(x) h(x), within 4 standard errors, for each h."""
    allowed = np.array([GRAMMAR.matcher().is_allowed(t) for t in range(len(probs))])
    for name, h in _test_functions().items():
        values = weights * h[tokens]
        exact = float((probs * allowed * h).sum())  # SPREAD, h = one: Z = 0.43
        standard_error = values.std(ddof=1) / math.sqrt(len(values))
        assert abs(values.mean() - exact) < 4 * standard_error + 1e-12, (name, values.mean(), exact)


@pytest.mark.parametrize(("probs", "variant", "max_rejections"), CASES, ids=CASE_IDS)
def test_weights_are_proper(probs, variant, max_rejections):
    results = _run(probs, variant, max_rejections, seed=1)
    weights = np.exp([r.log_weight for r in results])
    _assert_properly_weighted([r.token for r in results], weights, probs)


def test_the_weight_check_rejects_the_naive_remaining_mass_estimator():
    """w = 1 - rejected mass over-estimates Z (it counts disallowed mass after the accepted token)."""
    rng = np.random.default_rng(1)
    matcher = GRAMMAR.matcher()
    tokens, weights = [], []
    for _ in range(N_DRAWS):
        order = np.argsort(-(np.log(SPREAD) + rng.gumbel(size=len(SPREAD))))
        position = next(i for i, t in enumerate(order) if matcher.is_allowed(int(t)))
        tokens.append(int(order[position]))
        weights.append(1.0 - SPREAD[order[:position]].sum())
    with pytest.raises(AssertionError):
        _assert_properly_weighted(tokens, np.array(weights), SPREAD)


def _thousand_token_setup(top_prob: float):
    """1000 ids: EOS and "001".."999"; the grammar wants one token starting with 0-4."""
    vocab = constrain.Vocabulary.from_token_bytes(
        [b""] + [f"{i:03d}".encode() for i in range(1, 1000)], eos_token_ids=[0]
    )
    grammar = constrain.compile_regex("[0-4][0-9][0-9]", vocab)
    probs = np.full(1000, (1 - top_prob) / 999)
    probs[123] = top_prob  # "123", allowed: the model agrees with the grammar
    return vocab, grammar, np.log(probs)


def test_few_checks_when_the_model_agrees_with_the_grammar():
    _, grammar, logprobs = _thousand_token_setup(0.9)
    matcher = grammar.matcher()
    rng = np.random.default_rng(2)
    geometric = [awrs_step(logprobs, matcher.is_allowed, rng).n_checks for _ in range(2000)]
    recursive = [
        awrs_step(logprobs, matcher.is_allowed, rng, variant="recursive").n_checks for _ in range(2000)
    ]
    assert np.mean(geometric) < 1.5  # measured 1.21: a second distinct token is rarely drawn
    assert np.mean(recursive) < 2.2  # measured 2.05: the recursive estimator always checks one more


def test_fallback_on_a_large_vocabulary_is_exact():
    """A model that disagrees with the grammar: most draws fall back to the full mask."""
    vocab, grammar, _ = _thousand_token_setup(0.9)
    probs = np.full(1000, 0.1 / 999)
    probs[987] = 0.9  # "987", not allowed; Z = 0.1 * 499 / 999
    matcher = grammar.matcher()

    def full_mask() -> np.ndarray:
        words = vocab.allocate_bitmask()
        matcher.fill_bitmask(words)
        return words

    rng = np.random.default_rng(3)
    results = [
        awrs_step(np.log(probs), matcher.is_allowed, rng, max_rejections=4, full_mask=full_mask)
        for _ in range(3000)
    ]
    assert all(r.n_checks <= 4 + 2 for r in results)
    assert np.mean([r.used_full_mask for r in results]) > 0.3
    allowed = np.array([matcher.is_allowed(t) for t in range(1000)])
    assert all(allowed[r.token] for r in results)
    weights = np.exp([r.log_weight for r in results])
    exact_z = float(probs[allowed].sum())  # 0.04995
    standard_error = weights.std(ddof=1) / math.sqrt(len(weights))
    assert abs(weights.mean() - exact_z) < 4 * standard_error + 1e-12


@pytest.mark.parametrize("variant", ["recursive", "geometric"])
@pytest.mark.parametrize("with_mask", [False, True])
def test_nothing_allowed_gives_no_token_and_zero_weight(variant, with_mask):
    rng = np.random.default_rng(4)
    full_mask = (lambda: np.zeros(1, dtype=np.int32)) if with_mask else None
    result = awrs_step(
        np.log(SPREAD), lambda _: False, rng, max_rejections=3, full_mask=full_mask, variant=variant
    )
    assert result.token is None and result.log_weight == -math.inf
    assert result.n_checks == (3 if with_mask else len(SPREAD))


def test_allowed_tokens_without_model_mass_count_as_nothing_allowed():
    probs = np.array([0.5, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0])  # allowed ids 1, 3, 5, 7 all have p = 0
    with np.errstate(divide="ignore"):
        result = awrs_step(np.log(probs), GRAMMAR.matcher().is_allowed, np.random.default_rng(5))
    assert result.token is None and result.log_weight == -math.inf


@pytest.mark.parametrize(
    ("logprobs", "kwargs", "message"),
    [
        (np.array([np.nan, 0.0]), {}, "NaN"),
        (np.full(3, -np.inf), {}, "no finite entry"),
        (np.zeros((2, 2)), {}, "1-D"),
        (np.zeros(3), {"max_rejections": -1}, "max_rejections"),
        (np.zeros(3), {"variant": "greedy"}, "variant"),
    ],
)
def test_bad_arguments_raise_sampling_error(logprobs, kwargs, message):
    with pytest.raises(SamplingError, match=message):
        awrs_step(logprobs, lambda _: True, np.random.default_rng(0), **kwargs)


def test_the_lazy_order_matches_a_full_sort_as_it_grows():
    """Walks past 16, 64, 256... ids fetch larger top-k chunks; the order must not change."""
    from constrain.sampling.awrs import _KeyOrder

    keys = torch.from_numpy(np.random.default_rng(6).gumbel(size=3000))
    keys[::7] = -math.inf  # zero-probability ids end the order
    logp = keys - 1.0
    order = _KeyOrder(keys, logp)
    expected = [int(t) for t in torch.argsort(keys, descending=True, stable=True) if keys[t] > -math.inf]
    assert [order.at(i) for i in range(len(expected))] == [(t, float(logp[t])) for t in expected]
    assert order.at(len(expected)) is None and order.at(len(keys) + 5) is None


@pytest.mark.parametrize("variant", ["recursive", "geometric"])
def test_host_traffic_grows_with_the_checks_not_the_vocabulary(monkeypatch, variant):
    """A real-size row stays on its device: per step the host reads O(checks) values, not V."""
    vocab_size, allowed_ids = 49152, range(20000, 21000)  # one allowed region, about 2% of the mass
    row = torch.log_softmax(torch.from_numpy(np.random.default_rng(7).normal(size=vocab_size)), 0)
    words = np.zeros(vocab_size // 32, dtype=np.int32)
    words.view(np.uint32)[allowed_ids.start // 32 : allowed_ids.stop // 32] = 0xFFFFFFFF
    fetched: list[int] = []

    def counting_to_host(values: torch.Tensor) -> np.ndarray:
        fetched.append(values.numel())
        return values.cpu().numpy()

    monkeypatch.setattr(awrs, "to_host", counting_to_host)
    rng = np.random.default_rng(8)
    results, per_step = [], []
    for _ in range(40):
        fetched.clear()
        result = awrs_step(row, allowed_ids.__contains__, rng, full_mask=lambda: words, variant=variant)
        results.append(result)
        per_step.append(sum(fetched))
    assert all(r.token in allowed_ids for r in results)
    assert any(r.used_full_mask for r in results) and not all(r.used_full_mask for r in results)
    for result, n_fetched in zip(results, per_step, strict=True):
        assert n_fetched <= 8 * result.n_checks + 64, (result, n_fetched)
    assert max(per_step) < vocab_size / 50


@pytest.mark.parametrize("variant", ["recursive", "geometric"])
def test_a_tensor_row_and_a_numpy_row_take_the_same_path(variant):
    """Same seed, same draws: a numpy row is wrapped as a CPU tensor, not sampled another way."""
    matcher = GRAMMAR.matcher()

    def draws(row) -> list[tuple[int | None, float]]:
        rng = np.random.default_rng(9)
        steps = [awrs_step(row, matcher.is_allowed, rng, variant=variant) for _ in range(50)]
        return [(step.token, round(step.log_weight, 9)) for step in steps]

    assert draws(np.log(SPREAD)) == draws(torch.log(torch.tensor(SPREAD)))
