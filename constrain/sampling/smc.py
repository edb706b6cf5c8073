"""Sequential Monte Carlo over constrained outputs, one AWRS step per particle per round.

Why: sampling each token from the locally constrained distribution (masked decoding) is
myopic. It follows prefixes the model likes even when few of their completions are in the
language, so its outputs are not distributed as the model conditioned on the language,
``p(x | x in L)``. SMC corrects for that. Each particle carries a weight, the product of the
AWRS weights (unbiased estimates of each step's allowed mass). Resampling moves particles
away from prefixes whose completions the language mostly forbids. The weighted particles
approach ``p(x | x in L)`` as the number of particles grows.

Conventions (the error contract):

* ``lm(prefixes)`` takes a list of token-id lists and returns an ``(N, V)`` array of next-token
  log probabilities (normalized or not; AWRS renormalizes). A wrong shape raises
  :class:`~constrain.errors.MatcherError`. Ids ``>= vocab.size`` are never allowed.
* A particle finishes when it takes an EOS id; the EOS id is kept in its tokens. A finished
  particle no longer changes. When ``max_tokens`` runs out, unfinished particles get
  weight 0 (``-inf`` log weight), since they are not complete outputs.
* The log marginal likelihood estimates ``log P(x in L, |x| <= max_tokens)`` under the model:
  the sum, over resampling points and the end, of the log mean weight (the standard
  unbiased SMC estimator of the normalizer, here in log space).
* Forced tokens are not fast-forwarded: every token is drawn (and weighted) by AWRS, so
  forced tokens contribute their model probability through the weight as any other token.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from constrain.compiled_grammar import CompiledGrammar
from constrain.errors import MatcherError
from constrain.matcher import Matcher
from constrain.sampling.awrs import awrs_step

BatchedLM = Callable[[Sequence[Sequence[int]]], np.ndarray]


@dataclass(frozen=True)
class SMCResult:
    """Weighted particles ``(token_ids, log_weight)`` and the log normalizer estimate."""

    particles: list[tuple[list[int], float]]
    log_marginal_likelihood: float


@dataclass
class _Particle:
    tokens: list[int]
    matcher: Matcher
    log_weight: float = 0.0
    finished: bool = False

    def clone(self) -> _Particle:
        return _Particle(list(self.tokens), self.matcher.copy(), self.log_weight, self.finished)


def smc(
    lm: BatchedLM,
    compiled_grammar: CompiledGrammar,
    n_particles: int,
    max_tokens: int,
    rng: np.random.Generator,
    ess_threshold: float = 0.5,
    eos_token_ids: Iterable[int] | None = None,
    *,
    max_rejections: int = 64,
) -> SMCResult:
    """Run SMC with AWRS proposals; resample (systematically) when ESS / N < ``ess_threshold``.

    ``eos_token_ids`` defaults to the grammar vocabulary's EOS ids.
    """
    if n_particles < 1 or max_tokens < 0 or not 0.0 <= ess_threshold <= 1.0:
        raise MatcherError(
            f"need n_particles >= 1, max_tokens >= 0 and 0 <= ess_threshold <= 1, got "
            f"{n_particles}, {max_tokens}, {ess_threshold}"
        )
    vocab = compiled_grammar.vocab
    eos = frozenset(vocab.eos_token_ids if eos_token_ids is None else eos_token_ids)
    particles = [_Particle([], compiled_grammar.matcher()) for _ in range(n_particles)]
    log_normalizer = 0.0
    for _ in range(max_tokens):
        active = [p for p in particles if not p.finished and p.log_weight > -math.inf]
        if not active:
            break
        logprobs = _batched_logprobs(lm, [p.tokens for p in active])
        for particle, row in zip(active, logprobs, strict=True):
            _extend(particle, row, rng, vocab.size, eos, max_rejections)
        log_weights = np.array([p.log_weight for p in particles])
        if _ess_fraction(log_weights) < ess_threshold and any(not p.finished for p in particles):
            step_log_mean = _log_mean_exp(log_weights)
            log_normalizer += step_log_mean
            if step_log_mean == -math.inf:
                break
            particles = _resample(particles, log_weights, rng)
    for particle in particles:
        if not particle.finished:
            particle.log_weight = -math.inf
    log_normalizer += _log_mean_exp(np.array([p.log_weight for p in particles]))
    return SMCResult([(p.tokens, p.log_weight) for p in particles], log_normalizer)


def _extend(
    particle: _Particle,
    logprobs: np.ndarray,
    rng: np.random.Generator,
    vocab_size: int,
    eos: frozenset[int],
    max_rejections: int,
) -> None:
    """One AWRS step: append the token and multiply the weight (or zero it if nothing fits)."""
    matcher = particle.matcher

    def is_allowed(token: int) -> bool:
        return token < vocab_size and matcher.is_allowed(token)

    def full_mask() -> np.ndarray:
        words = np.zeros((vocab_size + 31) // 32, dtype=np.int32)
        matcher.fill_bitmask(words)
        return words

    step = awrs_step(logprobs, is_allowed, rng, max_rejections=max_rejections, full_mask=full_mask)
    particle.log_weight += step.log_weight
    if step.token is None:
        return
    matcher.advance(step.token)
    particle.tokens.append(step.token)
    particle.finished = step.token in eos or matcher.is_terminated()


def _batched_logprobs(lm: BatchedLM, prefixes: list[list[int]]) -> np.ndarray:
    logprobs = np.asarray(lm([list(prefix) for prefix in prefixes]), dtype=np.float64)
    if logprobs.ndim != 2 or logprobs.shape[0] != len(prefixes):
        raise MatcherError(
            f"lm must return an array of shape ({len(prefixes)}, V) for {len(prefixes)} prefixes, "
            f"got {logprobs.shape}"
        )
    return logprobs


def _ess_fraction(log_weights: np.ndarray) -> float:
    """Effective sample size over N; 0 when every weight is zero."""
    top = log_weights.max()
    if top == -np.inf:
        return 0.0
    weights = np.exp(log_weights - top)
    return float(weights.sum() ** 2 / (weights**2).sum() / len(weights))


def _log_mean_exp(log_weights: np.ndarray) -> float:
    top = log_weights.max()
    if top == -np.inf:
        return -math.inf
    return float(top + math.log(np.exp(log_weights - top).mean()))


def _resample(
    particles: list[_Particle], log_weights: np.ndarray, rng: np.random.Generator
) -> list[_Particle]:
    """Systematic resampling; survivors start again with equal (zero) log weight."""
    n = len(particles)
    weights = np.exp(log_weights - log_weights.max())
    cumulative = np.cumsum(weights / weights.sum())
    points = (rng.random() + np.arange(n)) / n
    chosen = np.minimum(np.searchsorted(cumulative, points), n - 1)
    survivors = []
    for index in chosen:
        clone = particles[index].clone()
        clone.log_weight = 0.0
        survivors.append(clone)
    return survivors
