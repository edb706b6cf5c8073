"""A tiny explicit language model and exact enumerations, for testing samplers only.

Not for production: the model is a lookup table from a prefix of token ids to a next-token
distribution, small enough that every constrained distribution a sampler targets can be
computed exactly by enumeration and compared with the sampler's output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from constrain.compiled_grammar import CompiledGrammar
from constrain.fast_forward import ForcedTokens
from constrain.matcher import Matcher

Distribution = Mapping[int, float]


@dataclass(frozen=True)
class TableLM:
    """Next-token probabilities looked up by prefix; ``default`` covers prefixes not in ``table``.

    ``table`` maps a prefix (tuple of token ids) to ``{token: probability}``; tokens left out
    get probability 0, and the probabilities are normalized on lookup. ``default`` maps a
    prefix to such a distribution (uniform over the vocabulary if omitted). Calling the model
    with a list of prefixes returns an ``(N, vocab_size)`` array of log probabilities, the
    batched interface the SMC sampler uses.
    """

    vocab_size: int
    table: Mapping[tuple[int, ...], Distribution] = field(default_factory=dict)
    default: Callable[[tuple[int, ...]], Distribution] | None = None

    def probs(self, prefix: Sequence[int]) -> np.ndarray:
        key = tuple(int(t) for t in prefix)
        if key in self.table:
            given = self.table[key]
        elif self.default is not None:
            given = self.default(key)
        else:
            return np.full(self.vocab_size, 1.0 / self.vocab_size)
        dense = np.zeros(self.vocab_size)
        for token, prob in given.items():
            dense[token] = prob
        return dense / dense.sum()

    def logprobs(self, prefix: Sequence[int]) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.probs(prefix))

    def __call__(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        return np.stack([self.logprobs(prefix) for prefix in prefixes])


def locally_constrained(probs: np.ndarray, matcher: Matcher) -> np.ndarray:
    """``p(x) 1[x allowed] / Z`` at the matcher's position (all zeros if Z = 0)."""
    allowed = np.array([matcher.is_allowed(t) for t in range(len(probs))])
    masked = np.where(allowed, probs, 0.0)
    total = masked.sum()
    return masked / total if total > 0 else masked


def exact_language_distribution(
    lm: TableLM, grammar: CompiledGrammar, max_tokens: int, forced: ForcedTokens | None = None
) -> tuple[dict[tuple[int, ...], float], float]:
    """``p(x | x in L)`` over complete outputs of at most ``max_tokens`` tokens (EOS included).

    Returns the normalized distribution and its normalizer ``P(x in L)``, found by walking
    every allowed token sequence; only for toy vocabularies. With ``forced``, the walk takes
    fast-forward's tokens wherever the grammar forces bytes, as the samplers do, so it gives
    the exact target of SMC with fast-forward.
    """
    masses: dict[tuple[int, ...], float] = {}

    def fast_forward(prefix: tuple[int, ...], matcher: Matcher, mass: float) -> None:
        if forced is not None:
            for token in forced.advance(matcher, max_tokens - len(prefix)):
                mass *= float(lm.probs(prefix)[token])
                prefix = (*prefix, token)
        if mass > 0.0:
            walk(prefix, matcher, mass)

    def walk(prefix: tuple[int, ...], matcher: Matcher, mass: float) -> None:
        if matcher.is_terminated():
            masses[prefix] = masses.get(prefix, 0.0) + mass
            return
        if len(prefix) == max_tokens:
            return
        probs = lm.probs(prefix)
        for token in np.flatnonzero(probs[: grammar.vocab.size]):  # padding ids are never allowed
            child = matcher.copy()
            if child.advance(int(token)):
                fast_forward((*prefix, int(token)), child, mass * float(probs[token]))

    fast_forward((), grammar.matcher(), 1.0)
    total = math.fsum(masses.values())
    return {seq: mass / total for seq, mass in masses.items()}, total
