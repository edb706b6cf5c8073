"""Sequential Monte Carlo over constrained outputs, one AWRS step per particle per round.

Why: sampling each token from the locally constrained distribution (masked decoding) is
myopic. It follows prefixes the model likes even when few of their completions are in the
language, so its outputs are not distributed as the model conditioned on the language,
``p(x | x in L)``. SMC corrects for that. Each particle carries a weight, the product of the
AWRS weights (unbiased estimates of each step's allowed mass). Resampling moves particles
away from prefixes whose completions the language mostly forbids. The weighted particles
approach ``p(x | x in L)`` as the number of particles grows.

Conventions (the error contract):

* ``lm(prefixes)`` takes a list of token-id lists and returns an ``(M, V)`` array or torch tensor
  of next-token log probabilities (normalized or not; they are renormalized). A tensor stays
  on its device; AWRS fetches only what it checks (:mod:`constrain.sampling.awrs`). A wrong shape raises
  :class:`~constrain.errors.SamplingError`. Ids ``>= vocab.size`` are never allowed.
* A particle finishes when it takes an EOS id; the EOS id is kept in its tokens. A finished
  particle no longer changes. ``max_tokens`` bounds each particle's tokens (EOS and forced
  tokens included); unfinished particles then get weight 0 (``-inf`` log weight), since they
  are not complete outputs.
* The log marginal likelihood estimates ``log P(x in L, |x| <= max_tokens)`` under the model:
  the sum, over resampling points and the end, of the log mean weight (the standard
  unbiased SMC estimator of the normalizer, here in log space).
* With ``forced`` (a :class:`~constrain.fast_forward.ForcedTokens`), the tokens the grammar
  forces are appended without sampling, and each multiplies the particle's weight by its
  model probability. The model is asked for those probabilities lazily, in the same call
  that asks for the particle's next distribution: the call includes every prefix ending
  just before a forced token, which a cached transformers model answers from one forward
  pass. The target is then the model restricted to the outputs whose forced stretches are
  tokenized as fast-forward tokenizes them (the same language; the same target whenever the
  forced tokens are the only allowed ones).
* Resampling happens at the start of a round, once every token so far is weighted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from constrain.compiled_grammar import CompiledGrammar
from constrain.errors import SamplingError
from constrain.fast_forward import ForcedTokens
from constrain.matcher import Matcher
from constrain.sampling.awrs import as_float64_tensor, awrs_step, to_host

BatchedLM = Callable[[Sequence[Sequence[int]]], np.ndarray | torch.Tensor]


@dataclass(frozen=True)
class SMCResult:
    """Weighted particles ``(token_ids, log_weight)`` and the log normalizer estimate.

    ``n_forced[i]`` and ``n_checks[i]`` are how many of particle i's tokens were fast-forwarded
    and how many tokens its AWRS steps checked (a full-mask fallback counts the vocabulary size);
    ``n_full_masks[i]`` counts those fallbacks. Resampled particles inherit their ancestor's counts.
    """

    particles: list[tuple[list[int], float]]
    log_marginal_likelihood: float
    n_forced: tuple[int, ...] = ()
    n_checks: tuple[int, ...] = ()
    n_full_masks: tuple[int, ...] = ()


@dataclass
class _Particle:
    tokens: list[int]
    matcher: Matcher
    log_weight: float = 0.0
    finished: bool = False
    unweighted: int = 0  # trailing forced tokens whose model probability is not in the weight yet
    n_forced: int = 0
    n_checks: int = 0
    n_full_masks: int = 0
    next_logprobs: torch.Tensor | None = None

    def clone(self) -> _Particle:
        return _Particle(
            list(self.tokens),
            self.matcher.copy(),
            self.log_weight,
            self.finished,
            self.unweighted,
            self.n_forced,
            self.n_checks,
            self.n_full_masks,
            self.next_logprobs,
        )


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
    forced: ForcedTokens | None = None,
) -> SMCResult:
    """Run SMC with AWRS proposals; resample (systematically) when ESS / N < ``ess_threshold``.

    ``eos_token_ids`` defaults to the grammar vocabulary's EOS ids; ``forced`` turns on
    fast-forward (module docstring).
    """
    check_smc_options(n_particles, ess_threshold)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise SamplingError(f"max_tokens must be a non-negative int, got {max_tokens!r}")
    vocab = compiled_grammar.vocab
    eos = frozenset(vocab.eos_token_ids if eos_token_ids is None else eos_token_ids)
    particles = [_Particle([], compiled_grammar.matcher()) for _ in range(n_particles)]
    for particle in particles:
        _fast_forward(particle, forced, max_tokens)
    log_normalizer = 0.0
    while True:
        active = [p for p in particles if _can_extend(p, max_tokens)]
        if not active:
            break
        _weigh_forced_and_predict(lm, active)
        log_weights = np.array([p.log_weight for p in particles])
        if _ess_fraction(log_weights) < ess_threshold:
            step_log_mean = _log_mean_exp(log_weights)
            log_normalizer += step_log_mean
            if step_log_mean == -math.inf:
                break
            particles = _resample(particles, log_weights, rng)
        for particle in particles:
            if particle.next_logprobs is not None and particle.log_weight > -math.inf:
                _extend(particle, particle.next_logprobs, rng, vocab.size, eos, max_rejections)
                _fast_forward(particle, forced, max_tokens)
            particle.next_logprobs = None
    for particle in particles:
        if not particle.finished:
            particle.log_weight = -math.inf
    log_normalizer += _log_mean_exp(np.array([p.log_weight for p in particles]))
    return SMCResult(
        [(p.tokens, p.log_weight) for p in particles],
        log_normalizer,
        tuple(p.n_forced for p in particles),
        tuple(p.n_checks for p in particles),
        tuple(p.n_full_masks for p in particles),
    )


def check_smc_options(n_particles: int, ess_threshold: float) -> None:
    """Raise SamplingError unless ``n_particles >= 1`` and ``0 <= ess_threshold <= 1``."""
    if isinstance(n_particles, bool) or not isinstance(n_particles, int) or n_particles < 1:
        raise SamplingError(f"n_particles must be a positive int, got {n_particles!r}")
    if not 0.0 <= ess_threshold <= 1.0:
        raise SamplingError(f"ess_threshold must be in [0, 1], got {ess_threshold!r}")


def _can_extend(particle: _Particle, max_tokens: int) -> bool:
    return not particle.finished and particle.log_weight > -math.inf and len(particle.tokens) < max_tokens


def _weigh_forced_and_predict(lm: BatchedLM, active: list[_Particle]) -> None:
    """One model call: weigh each particle's pending forced tokens, store its next distribution."""
    queries: list[list[int]] = []
    for particle in active:
        n = len(particle.tokens)
        queries.extend(particle.tokens[: n - k] for k in range(particle.unweighted, -1, -1))
    logprobs = _batched_logprobs(lm, queries)
    row = 0
    for particle in active:
        n = len(particle.tokens)
        for k in range(particle.unweighted, 0, -1):
            particle.log_weight += _log_probability(logprobs[row], particle.tokens[n - k])
            row += 1
        particle.unweighted = 0
        particle.next_logprobs = logprobs[row]
        row += 1


def _fast_forward(particle: _Particle, forced: ForcedTokens | None, max_tokens: int) -> None:
    if forced is None or particle.finished or particle.log_weight == -math.inf:
        return
    tokens = forced.advance(particle.matcher, max_tokens - len(particle.tokens))
    particle.tokens.extend(tokens)
    particle.unweighted += len(tokens)
    particle.n_forced += len(tokens)


def _log_probability(logprobs: torch.Tensor, token: int) -> float:
    """``log p(token)`` under the normalized row (``-inf`` for ids past the row); fetches two scalars."""
    if token >= len(logprobs):
        return -math.inf
    value, log_total = to_host(torch.stack([logprobs[token], torch.logsumexp(logprobs, 0)]))
    if log_total == -np.inf:
        return -math.inf
    return float(value - log_total)


def _extend(
    particle: _Particle,
    logprobs: torch.Tensor,
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
    particle.n_checks += step.n_checks + (vocab_size if step.used_full_mask else 0)
    particle.n_full_masks += step.used_full_mask
    if step.token is None:
        return
    matcher.advance(step.token)
    particle.tokens.append(step.token)
    particle.finished = step.token in eos or matcher.is_terminated()


def _batched_logprobs(lm: BatchedLM, prefixes: list[list[int]]) -> torch.Tensor:
    """The model's rows as a float64 tensor, left on the model's device (numpy rows are not copied)."""
    logprobs = as_float64_tensor(lm([list(prefix) for prefix in prefixes]))
    if logprobs.ndim != 2 or logprobs.shape[0] != len(prefixes):
        raise SamplingError(
            f"lm must return an array of shape ({len(prefixes)}, V) for {len(prefixes)} prefixes, "
            f"got {tuple(logprobs.shape)}"
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
