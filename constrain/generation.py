"""constrain's own generation loop: one prompt, one grammar, a KV cache; mask, AWRS or SMC sampling.

Why not ``model.generate``: owning the loop lets the sampler decide *when* a mask is needed.
``sampler="mask"`` computes the full allowed set every step (exact, simple);
``sampler="awrs"`` draws from the model and checks only the drawn tokens (see
:mod:`constrain.sampling.awrs`), computing a full mask only after many rejections. Both draw
exactly from the model's distribution restricted to the allowed tokens at each step.
``sampler="smc"`` runs N AWRS particles with weights and resampling (see
:mod:`constrain.sampling.smc`), sharing the prompt's KV cache (:mod:`constrain.cached_lm`), to
correct the myopia of per-step masking.

Fast-forward (on by default): bytes the grammar forces are appended as tokens without sampling
(:mod:`constrain.fast_forward`), fed to the model together with the previous sampled token, so
a forced stretch costs one forward pass instead of one per token.

Device traffic per step: the logits stay on the model's device. ``mask`` uploads the bitmask
and fetches the sampled id; AWRS and SMC fetch only the candidates they check (ids and log
probabilities, in growing top-k chunks) and a few scalars, plus the bitmask upload on a fallback.

The output is decoded from the vocabulary's token bytes, not with ``tokenizer.decode``, so the
text is byte for byte what the grammar accepted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from constrain.bitmask import apply_bitmask
from constrain.cached_lm import CachedCausalLM
from constrain.compiled_grammar import CompiledGrammar
from constrain.errors import ConstrainError, IncompleteOutputError, MatcherError, SamplingError
from constrain.fast_forward import ForcedTokens
from constrain.logits_processor import only_end_tokens_allowed
from constrain.sampling import awrs_step, smc
from constrain.sampling.smc import SMCResult, check_smc_options

__all__ = ["SAMPLERS", "GenerationResult", "IncompleteOutputError", "generate"]

Sampler = Literal["mask", "awrs", "smc"]
SAMPLERS: tuple[str, ...] = ("mask", "awrs", "smc")
_GREEDY_CANDIDATES = 64
# AWRS falls back to a full mask after this many rejections. A matcher check costs about 3 us
# and a full mask of a state not yet cached about 4 ms on a 49k vocabulary, so walking on is
# cheaper until about a thousand checks (the steps where the model disagrees with the grammar).
_MAX_REJECTIONS = 1024


@dataclass(frozen=True)
class GenerationResult:
    """A constrained output; ``str(result)`` is its text.

    ``token_ids`` are the generated tokens without the end token. ``finish_reason`` is
    ``"eos"`` when the end token was chosen and ``"max_new_tokens"`` when the budget ran out
    on an output that is already complete (an incomplete one raises instead).
    ``n_forced_tokens`` of the ``token_ids`` were fast-forwarded; ``n_checks`` counts the tokens
    the matcher examined to sample the others (one per AWRS check, the vocabulary size per full
    mask), ``n_full_masks`` how many steps computed a full mask (every step with ``"mask"``,
    AWRS's fallbacks otherwise). For SMC these describe the returned particle's history,
    ``particles`` lists every complete particle as ``(text, normalized weight)`` and
    ``log_marginal_likelihood`` is the estimate of ``log P(output in the language)`` under the
    model; both are None otherwise.
    """

    text: str
    token_ids: tuple[int, ...]
    complete: bool
    finish_reason: Literal["eos", "max_new_tokens"]
    prompt_tokens: int
    seconds: float
    n_forced_tokens: int = 0
    n_checks: int = 0
    n_full_masks: int = 0
    particles: tuple[tuple[str, float], ...] | None = None
    log_marginal_likelihood: float | None = None

    def __str__(self) -> str:
        return self.text


def generate(
    model: Any,
    tokenizer: Any,
    prompt: str | Sequence[dict[str, str]],
    grammar: CompiledGrammar,
    sampler: Sampler = "mask",
    max_new_tokens: int = 256,
    seed: int | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    chat: bool = True,
    fast_forward: bool = True,
    n_particles: int = 4,
    ess_threshold: float = 0.5,
) -> GenerationResult:
    """Generate one output of ``grammar`` for ``prompt`` (text, or chat messages).

    ``temperature == 0`` is greedy: the most likely allowed token each step (not with SMC).
    The chat template is applied when ``chat`` is true and the tokenizer has one.
    ``n_particles`` and ``ess_threshold`` configure ``sampler="smc"``, whose ``text`` is one
    particle drawn in proportion to the final weights (so it is a sample of the SMC
    approximation of ``p(x | x in L)``, not its mode). ``max_new_tokens`` counts the end token
    and fast-forwarded tokens. Raises :class:`IncompleteOutputError` (with ``.partial``) if it
    runs out before the output is complete (for SMC: before any particle ended), and
    :class:`SamplingError` for options the sampler cannot honour.
    """
    _check_options(sampler, max_new_tokens, temperature, top_p, n_particles, ess_threshold)
    started = time.perf_counter()
    prompt_ids = prompt_token_ids(tokenizer, prompt, chat)
    if not prompt_ids:
        raise SamplingError("the prompt encodes to no tokens; the model needs at least one to condition on")
    forced = ForcedTokens.for_vocabulary(grammar.vocab) if fast_forward else None
    run = _Run(grammar, prompt_ids, started)
    with torch.inference_mode():
        if sampler == "smc":
            lm = CachedCausalLM(model, prompt_ids, temperature)
            rng = np.random.default_rng(seed)
            outcome = smc(
                lm,
                grammar,
                n_particles,
                max_new_tokens,
                rng,
                ess_threshold,
                forced=forced,
                max_rejections=_MAX_REJECTIONS,
            )
            return run.from_smc(outcome, rng, max_new_tokens)
        chooser = _Chooser(grammar, sampler, temperature, top_p, seed, model.device)
        return _generate_one(model, run, chooser, forced, max_new_tokens)


def _generate_one(
    model: Any, run: _Run, chooser: _Chooser, forced: ForcedTokens | None, max_new_tokens: int
) -> GenerationResult:
    """The single-sequence loop: sample a token, fast-forward, feed both in one forward pass.

    With ``sampler="mask"`` on an accelerator, the next mask is computed on a worker thread
    while the device runs the forward pass, so it costs no wall time when it is the faster of
    the two. On CPU the model's own threads use the cores and the overlap measured slower (on
    2 cores, about 10%), so there the mask is computed in line.
    """
    matcher = chooser.matcher
    overlap_masks = overlaps_masks(model.device)
    generated = forced.advance(matcher, max_new_tokens) if forced else []
    n_forced = len(generated)
    pending = run.prompt_ids + generated
    past = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="constrain-mask") as mask_worker:
        while len(generated) < max_new_tokens:
            if overlap_masks:
                chooser.prefetch_mask(mask_worker)
            inputs = torch.tensor([pending], dtype=torch.long, device=model.device)
            output = model(input_ids=inputs, past_key_values=past, use_cache=True, logits_to_keep=1)
            past = output.past_key_values
            token = chooser(output.logits[0, -1].float())
            if not matcher.advance(token):
                raise MatcherError(f"the sampler chose token {token}, which the grammar does not allow")
            if matcher.is_terminated():
                return run.result(generated, "eos", n_forced, chooser.n_checks, chooser.n_full_masks)
            generated.append(token)
            pending = [token]
            if forced is not None:
                tokens = forced.advance(matcher, max_new_tokens - len(generated))
                generated += tokens
                pending += tokens
                n_forced += len(tokens)
    if matcher.is_accepting():
        return run.result(generated, "max_new_tokens", n_forced, chooser.n_checks, chooser.n_full_masks)
    raise run.incomplete(generated, max_new_tokens)


def overlaps_masks(device: torch.device) -> bool:
    """Whether masks are computed while the model runs: only when it runs on an accelerator."""
    return torch.device(device).type != "cpu"


def prompt_token_ids(tokenizer: Any, prompt: str | Sequence[dict[str, str]], chat: bool) -> list[int]:
    """The prompt's token ids, through the chat template when asked for and available."""
    has_template = getattr(tokenizer, "chat_template", None) is not None
    if isinstance(prompt, str) and not (chat and has_template):
        return list(tokenizer.encode(prompt, add_special_tokens=False))
    if not has_template:
        raise ConstrainError("chat messages need a tokenizer with a chat template")
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer.encode(text, add_special_tokens=False))


@dataclass(frozen=True)
class _Run:
    """What every result of one call shares: the grammar, the prompt and the start time."""

    grammar: CompiledGrammar
    prompt_ids: list[int]
    started: float

    def result(
        self,
        token_ids: list[int],
        finish_reason: Literal["eos", "max_new_tokens"],
        n_forced: int,
        n_checks: int,
        n_full_masks: int,
        **smc_fields: Any,
    ) -> GenerationResult:
        return GenerationResult(
            text=_decode(self.grammar, token_ids),
            token_ids=tuple(token_ids),
            complete=True,
            finish_reason=finish_reason,
            prompt_tokens=len(self.prompt_ids),
            seconds=time.perf_counter() - self.started,
            n_forced_tokens=n_forced,
            n_checks=n_checks,
            n_full_masks=n_full_masks,
            **smc_fields,
        )

    def incomplete(self, token_ids: list[int], max_new_tokens: int) -> IncompleteOutputError:
        partial = _decode(self.grammar, token_ids)
        return IncompleteOutputError(
            f"max_new_tokens={max_new_tokens} ran out before the output was complete; partial output: "
            f"{partial[:200]!r}",
            partial=partial,
            token_ids=tuple(token_ids),
        )

    def from_smc(self, outcome: SMCResult, rng: np.random.Generator, max_new_tokens: int) -> GenerationResult:
        """One particle drawn by weight; every complete particle listed with its normalized weight."""
        log_weights = np.array([log_weight for _, log_weight in outcome.particles])
        if not (log_weights > -np.inf).any():
            longest = max((tokens for tokens, _ in outcome.particles), key=len)
            raise self.incomplete(longest, max_new_tokens)
        weights = np.exp(log_weights - log_weights.max())
        weights /= weights.sum()
        complete = np.flatnonzero(weights > 0)
        particles = tuple(
            (_decode(self.grammar, _without_end(outcome.particles[i][0], self.grammar)), float(weights[i]))
            for i in complete
        )
        chosen = int(rng.choice(len(weights), p=weights))
        return self.result(
            _without_end(outcome.particles[chosen][0], self.grammar),
            "eos",
            outcome.n_forced[chosen],
            outcome.n_checks[chosen],
            outcome.n_full_masks[chosen],
            particles=particles,
            log_marginal_likelihood=outcome.log_marginal_likelihood,
        )


def _without_end(tokens: list[int], grammar: CompiledGrammar) -> list[int]:
    return tokens[:-1] if tokens and tokens[-1] in grammar.vocab.eos_token_ids else list(tokens)


class _Chooser:
    """Picks each step's token from the logits with the configured sampler; counts matcher checks.

    Both paths keep the logits on their device: the mask path uploads the bitmask and fetches the
    token id; AWRS fetches the candidates it checks (see :mod:`constrain.sampling.awrs`).
    """

    def __init__(
        self,
        grammar: CompiledGrammar,
        sampler: Sampler,
        temperature: float,
        top_p: float,
        seed: int | None,
        device: torch.device,
    ):
        self._vocab = grammar.vocab
        self.matcher = grammar.matcher()
        self._sampler = sampler
        self._temperature = temperature
        self._top_p = top_p
        self._bitmask = grammar.vocab.allocate_bitmask()
        self._torch_rng = torch.Generator(device=device)
        self._numpy_rng = np.random.default_rng(seed)
        self.n_checks = 0
        self.n_full_masks = 0
        self._prefetched: Future[None] | None = None
        if seed is None:
            self._torch_rng.seed()
        else:
            self._torch_rng.manual_seed(seed)

    def __call__(self, logits: torch.Tensor) -> int:
        if self._sampler == "awrs":
            return self._awrs(logits)
        return self._masked(logits)

    def prefetch_mask(self, worker: Executor) -> None:
        """With the mask sampler, start filling the next step's mask on ``worker``.

        The matcher must not change until the mask is read (the next ``__call__``).
        """
        if self._sampler == "mask":
            self._prefetched = worker.submit(self.matcher.fill_bitmask, self._bitmask)

    def _full_mask(self) -> np.ndarray:
        if self._prefetched is not None:
            self._prefetched.result()
            self._prefetched = None
        else:
            self.matcher.fill_bitmask(self._bitmask)
        self.n_checks += self._vocab.size
        self.n_full_masks += 1
        return self._bitmask

    def _masked(self, logits: torch.Tensor) -> int:
        words = self._full_mask()
        if only_end_tokens_allowed(words, self._vocab.eos_token_ids):
            return self._vocab.eos_token_id
        logits = logits.clone()
        apply_bitmask(logits, words)
        if self._temperature == 0:
            return int(torch.argmax(logits))
        probabilities = _nucleus(torch.softmax(logits / self._temperature, dim=-1), self._top_p)
        return int(torch.multinomial(probabilities, 1, generator=self._torch_rng))

    def _awrs(self, logits: torch.Tensor) -> int:
        if self._temperature == 0:
            return self._greedy_by_checks(logits)
        logprobs = torch.log_softmax(logits.double() / self._temperature, dim=-1)
        step = awrs_step(
            logprobs,
            self._is_allowed,
            self._numpy_rng,
            max_rejections=_MAX_REJECTIONS,
            full_mask=self._full_mask,
        )
        if step.token is None:
            raise SamplingError("no token the model can produce is allowed by the grammar here")
        return step.token

    def _is_allowed(self, token: int) -> bool:
        self.n_checks += 1
        return token < self._vocab.size and self.matcher.is_allowed(token)

    def _greedy_by_checks(self, logits: torch.Tensor) -> int:
        """The most likely allowed token, checking candidates in order before a full mask."""
        candidates = torch.topk(logits, min(_GREEDY_CANDIDATES, logits.shape[-1])).indices.tolist()
        for token in candidates:
            if self._is_allowed(token):
                return token
        logits = logits.clone()
        apply_bitmask(logits, self._full_mask())
        return int(torch.argmax(logits))


def _nucleus(probabilities: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero all but the smallest set of most likely tokens whose mass reaches ``top_p``."""
    if top_p >= 1.0:
        return probabilities
    ordered, order = torch.sort(probabilities, descending=True)
    mass_before = torch.cumsum(ordered, dim=-1) - ordered
    ordered[mass_before >= top_p] = 0.0
    return torch.zeros_like(probabilities).scatter_(-1, order, ordered)


def _check_options(
    sampler: str,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    n_particles: int,
    ess_threshold: float,
) -> None:
    if sampler not in SAMPLERS:
        raise SamplingError(f"unknown sampler {sampler!r}; accepted are {', '.join(map(repr, SAMPLERS))}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise SamplingError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not temperature >= 0 or temperature == float("inf"):
        raise SamplingError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if not 0 < top_p <= 1:
        raise SamplingError(f"top_p must be in (0, 1], got {top_p!r}")
    if sampler in ("awrs", "smc") and top_p < 1:
        raise SamplingError(
            f"sampler={sampler!r} draws exactly from the model's distribution restricted to the grammar; "
            "top_p < 1 is only supported with sampler='mask'"
        )
    if sampler == "smc":
        if temperature == 0:
            raise SamplingError(
                "sampler='smc' samples; temperature=0 (greedy) needs sampler='mask' or 'awrs'"
            )
        check_smc_options(n_particles, ess_threshold)


def _decode(grammar: CompiledGrammar, token_ids: list[int]) -> str:
    return b"".join(grammar.vocab.token_bytes[t] for t in token_ids).decode("utf-8", errors="replace")
