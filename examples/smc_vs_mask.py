"""Masked decoding is biased; SMC is not. Shown on a toy model whose every output can be enumerated.

What a grammar-constrained sampler *should* draw from is the model conditioned on the
language, ``p(x | x in L)``. Masked decoding instead renormalizes each step over the allowed
tokens, so it follows prefixes the model likes even when the language forbids almost all of
their continuations. Here the model says "a" 90% of the time, then almost always "c", which
the language {ab, bc} forbids after "a": conditioned on L, "bc" is ten times likelier than
"ab", yet masked decoding picks "ab" 90% of the time.

The example computes three distributions over the language's outputs and their total
variation (TV) from the exact one: the exact ``p(x | x in L)`` (enumerated), masked decoding's
(also enumerated: the product of the locally renormalized step probabilities) and the
estimate of SMC with AWRS proposals (``constrain.sampling.smc``), from weighted particles.
A second, longer language shows the same with resampling at work.

Usage: python examples/smc_vs_mask.py [--particles 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from collections.abc import Mapping

import numpy as np

import constrain
from constrain.compiled_grammar import CompiledGrammar
from constrain.sampling import SMCResult, smc
from constrain.testing_lm import TableLM, exact_language_distribution, locally_constrained

EOS, A, B, C = 0, 1, 2, 3
VOCAB = constrain.Vocabulary.from_token_bytes([b"", b"a", b"b", b"c"], eos_token_ids=[EOS])
Distribution = Mapping[tuple[int, ...], float]

TRAP_LM = TableLM(
    4,
    {
        (): {A: 0.9, B: 0.1},  # the model prefers "a" ...
        (A,): {B: 0.01, C: 0.99},  # ... then says "c", which the language forbids after "a"
        (B,): {C: 0.9, B: 0.1},
        (A, B): {EOS: 1.0},
        (B, C): {EOS: 1.0},
    },
)


def _repeating_lm_next(prefix: tuple[int, ...]) -> dict[int, float]:
    """Likes to repeat its last token and to stop late."""
    last = prefix[-1] if prefix else A
    stop = 0.05 + 0.15 * len(prefix)
    rest = 1.0 - stop
    return {EOS: stop, last: 0.6 * rest, **{t: 0.2 * rest for t in (A, B, C) if t != last}}


CASES = (
    ("trap: ab|bc", TRAP_LM, constrain.compile_regex("ab|bc", VOCAB), 4),
    (
        "longer: (a|b)*c | cac(aa)*",
        TableLM(4, default=_repeating_lm_next),
        constrain.compile_grammar('start: ("a" | "b")* "c" | "c" "a" "c" ("a" "a")*', VOCAB),
        6,
    ),
)


def masked_decoding_distribution(lm: TableLM, grammar: CompiledGrammar, max_tokens: int) -> dict:
    """Masked decoding's exact output distribution: walk every path with the renormalized steps."""
    result: dict[tuple[int, ...], float] = defaultdict(float)

    def walk(prefix: tuple[int, ...], matcher, mass: float) -> None:
        if matcher.is_terminated():
            result[prefix] += mass
            return
        if len(prefix) == max_tokens:
            return  # out of tokens: masked decoding fails on this path
        step = locally_constrained(lm.probs(prefix), matcher)
        for token in np.flatnonzero(step):
            child = matcher.copy()
            child.advance(int(token))
            walk((*prefix, int(token)), child, mass * float(step[token]))

    walk((), grammar.matcher(), 1.0)
    return dict(result)


def smc_distribution(result: SMCResult) -> dict[tuple[int, ...], float]:
    """The particles' normalized importance weights, summed per output."""
    log_weights = np.array([weight for _, weight in result.particles])
    if not np.isfinite(log_weights).any():
        return {}
    weights = np.exp(log_weights - log_weights.max())
    weights /= weights.sum()
    estimate: dict[tuple[int, ...], float] = defaultdict(float)
    for (tokens, _), weight in zip(result.particles, weights, strict=True):
        estimate[tuple(tokens)] += float(weight)
    return dict(estimate)


def total_variation(p: Distribution, q: Distribution) -> float:
    return 0.5 * sum(abs(p.get(key, 0.0) - q.get(key, 0.0)) for key in set(p) | set(q))


def show(
    name: str, lm: TableLM, grammar: CompiledGrammar, max_tokens: int, particles: int, seed: int
) -> None:
    exact, normalizer = exact_language_distribution(lm, grammar, max_tokens)
    masked = masked_decoding_distribution(lm, grammar, max_tokens)
    result = smc(lm, grammar, n_particles=particles, max_tokens=max_tokens, rng=np.random.default_rng(seed))
    estimate = smc_distribution(result)
    print(f"\n== {name}: {len(exact)} outputs of at most {max_tokens} tokens, P(x in L) = {normalizer:.4f}")
    print(f"{'output':<10} {'exact':>8} {'masked':>8} {'SMC':>8}")
    for output in sorted(exact, key=exact.get, reverse=True)[:8]:
        text = b"".join(VOCAB.token_bytes[t] for t in output).decode()
        print(
            f"{text:<10} {exact[output]:8.4f} {masked.get(output, 0.0):8.4f} {estimate.get(output, 0.0):8.4f}"
        )
    unfinished = 1.0 - math.fsum(masked.values())
    print(f"TV(masked decoding, exact) = {total_variation(masked, exact):.3f}", end="")
    print(f" (it runs out of tokens with probability {unfinished:.3f})" if unfinished > 1e-9 else "")
    print(f"TV(SMC, {particles} particles, exact) = {total_variation(estimate, exact):.3f}")
    marginal = math.exp(result.log_marginal_likelihood)
    print(f"SMC estimate of P(x in L) = {marginal:.4f} (exact {normalizer:.4f})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=2000, help="SMC particles (fewer: faster, noisier)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name, lm, grammar, max_tokens in CASES:
        show(name, lm, grammar, max_tokens, args.particles, args.seed)


if __name__ == "__main__":
    main()
