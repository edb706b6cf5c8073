"""constrain's own generation loop: one prompt, one grammar, a KV cache, mask or AWRS sampling.

Why not ``model.generate``: owning the loop lets the sampler decide *when* a mask is needed.
``sampler="mask"`` computes the full allowed set every step (exact, simple);
``sampler="awrs"`` draws from the model and checks only the drawn tokens (see
:mod:`constrain.sampling.awrs`), computing a full mask only after many rejections. Both draw
exactly from the model's distribution restricted to the allowed tokens at each step.

The output is decoded from the vocabulary's token bytes, not with ``tokenizer.decode``, so the
text is byte for byte what the grammar accepted. Forced bytes are not fast-forwarded yet: each
token costs one forward pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from constrain.bitmask import apply_bitmask
from constrain.compiled_grammar import CompiledGrammar
from constrain.errors import ConstrainError, MatcherError
from constrain.logits_processor import only_end_tokens_allowed
from constrain.matcher import Matcher
from constrain.sampling import awrs_step

__all__ = ["SAMPLERS", "GenerationResult", "IncompleteOutputError", "generate"]

Sampler = Literal["mask", "awrs"]
SAMPLERS: tuple[str, ...] = ("mask", "awrs")
_GREEDY_CANDIDATES = 64


class IncompleteOutputError(ConstrainError):
    """``max_new_tokens`` ran out before the output was a complete word of the grammar."""

    def __init__(self, message: str, *, partial: str, token_ids: tuple[int, ...]):
        self.partial = partial
        self.token_ids = token_ids
        super().__init__(message)


@dataclass(frozen=True)
class GenerationResult:
    """A constrained output; ``str(result)`` is its text.

    ``token_ids`` are the generated tokens without the end token. ``finish_reason`` is
    ``"eos"`` when the end token was chosen and ``"max_new_tokens"`` when the budget ran out
    on an output that is already complete (an incomplete one raises instead).
    """

    text: str
    token_ids: tuple[int, ...]
    complete: bool
    finish_reason: Literal["eos", "max_new_tokens"]
    prompt_tokens: int
    seconds: float

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
) -> GenerationResult:
    """Generate one output of ``grammar`` for ``prompt`` (text, or chat messages).

    ``temperature == 0`` is greedy: the most likely allowed token each step. The chat template
    is applied when ``chat`` is true and the tokenizer has one. Raises
    :class:`IncompleteOutputError` (with ``.partial``) if ``max_new_tokens`` runs out first.
    """
    _check_options(sampler, max_new_tokens, temperature, top_p)
    started = time.perf_counter()
    prompt_ids = prompt_token_ids(tokenizer, prompt, chat)
    matcher = grammar.matcher()
    choose = _Chooser(grammar, matcher, sampler, temperature, top_p, seed)
    generated: list[int] = []
    past = None
    inputs = torch.tensor([prompt_ids], dtype=torch.long, device=model.device)
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            output = model(input_ids=inputs, past_key_values=past, use_cache=True)
            past = output.past_key_values
            token = choose(output.logits[0, -1].float())
            if not matcher.advance(token):
                raise MatcherError(f"the sampler chose token {token}, which the grammar does not allow")
            if matcher.is_terminated():
                return _result(grammar, generated, "eos", len(prompt_ids), started)
            generated.append(token)
            inputs = torch.tensor([[token]], dtype=torch.long, device=model.device)
    if matcher.is_accepting():
        return _result(grammar, generated, "max_new_tokens", len(prompt_ids), started)
    partial = _decode(grammar, generated)
    raise IncompleteOutputError(
        f"max_new_tokens={max_new_tokens} ran out before the output was complete; partial output: "
        f"{partial[:200]!r}",
        partial=partial,
        token_ids=tuple(generated),
    )


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


class _Chooser:
    """Picks each step's token from the logits with the configured sampler."""

    def __init__(
        self,
        grammar: CompiledGrammar,
        matcher: Matcher,
        sampler: Sampler,
        temperature: float,
        top_p: float,
        seed: int | None,
    ):
        self._vocab = grammar.vocab
        self._matcher = matcher
        self._sampler = sampler
        self._temperature = temperature
        self._top_p = top_p
        self._bitmask = grammar.vocab.allocate_bitmask()
        self._torch_rng = torch.Generator()
        self._numpy_rng = np.random.default_rng(seed)
        if seed is None:
            self._torch_rng.seed()
        else:
            self._torch_rng.manual_seed(seed)

    def __call__(self, logits: torch.Tensor) -> int:
        if self._sampler == "awrs":
            return self._awrs(logits)
        return self._masked(logits)

    def _full_mask(self) -> np.ndarray:
        self._matcher.fill_bitmask(self._bitmask)
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
        return int(torch.multinomial(probabilities.cpu(), 1, generator=self._torch_rng))

    def _awrs(self, logits: torch.Tensor) -> int:
        if self._temperature == 0:
            return self._greedy_by_checks(logits)
        logprobs = torch.log_softmax(logits / self._temperature, dim=-1).cpu().numpy().astype(np.float64)
        step = awrs_step(logprobs, self._matcher.is_allowed, self._numpy_rng, full_mask=self._full_mask)
        if step.token is None:
            raise MatcherError("no token the model can produce is allowed by the grammar here")
        return step.token

    def _greedy_by_checks(self, logits: torch.Tensor) -> int:
        """The most likely allowed token, checking candidates in order before a full mask."""
        candidates = torch.topk(logits, min(_GREEDY_CANDIDATES, logits.shape[-1])).indices.tolist()
        for token in candidates:
            if token < self._vocab.size and self._matcher.is_allowed(token):
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


def _check_options(sampler: str, max_new_tokens: int, temperature: float, top_p: float) -> None:
    if sampler not in SAMPLERS:
        raise ConstrainError(f"unknown sampler {sampler!r}; accepted are {', '.join(map(repr, SAMPLERS))}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ConstrainError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not temperature >= 0 or temperature == float("inf"):
        raise ConstrainError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if not 0 < top_p <= 1:
        raise ConstrainError(f"top_p must be in (0, 1], got {top_p!r}")
    if sampler == "awrs" and top_p < 1:
        raise ConstrainError(
            "sampler='awrs' draws exactly from the model's distribution restricted to the grammar; "
            "top_p < 1 is only supported with sampler='mask'"
        )


def _decode(grammar: CompiledGrammar, token_ids: list[int]) -> str:
    return b"".join(grammar.vocab.token_bytes[t] for t in token_ids).decode("utf-8", errors="replace")


def _result(
    grammar: CompiledGrammar,
    token_ids: list[int],
    finish_reason: Literal["eos", "max_new_tokens"],
    prompt_tokens: int,
    started: float,
) -> GenerationResult:
    return GenerationResult(
        text=_decode(grammar, token_ids),
        token_ids=tuple(token_ids),
        complete=True,
        finish_reason=finish_reason,
        prompt_tokens=prompt_tokens,
        seconds=time.perf_counter() - started,
    )
