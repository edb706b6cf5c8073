"""Grammar-constrained decoding for masked-diffusion language models (LLaDA, Dream, ...).

The loop is LLaDA's: start from a response canvas of ``length`` mask tokens, and at each of
``steps`` forward passes unmask a quota of positions, the most confident (position, token)
pairs first (optionally block by block, left to right: LLaDA's semi-autoregressive mode).
The constraint (after the constrained-diffusion paper of Mündler et al.) is an additive-
infilling check of each proposal: a proposal is accepted only if the canvas with that token
placed can still be completed into a word of the grammar. Rejected proposals are dropped and
the next one is taken, going down each position's candidates as far as needed.

Why it always ends in a word of the language: the first canvas (all masks) is checked to be
completable, and each accepted proposal keeps it completable. A completable canvas always
admits an acceptable proposal: the first masked position of some completion holds a token
(text or EOS) that can stand there. Since every token is a candidate, the loop finds it, so
it never gets stuck; and a proposal rejected once stays rejected for the rest of the step,
because placing more tokens only shrinks the set of completions. A check that times out
counts as a rejection; if a step runs out of proposals because of timeouts, the timed-out
ones are checked again without a time limit. The finished canvas has no holes left, and a
completable canvas without holes is a word.

Why the checks are cheap: one checker serves the whole generation and keeps its last searches;
a proposal's canvas differs from the canvas just checked at one position, so its check resumes
the kept search at the segment holding that position instead of starting over (see
:mod:`constrain.infill.columns`).

EOS is the padding: once an EOS stands at position q, the text ends there and every later
position is set to EOS at once (no other token could stand there).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from constrain.compiled_grammar import CompiledGrammar
from constrain.diffusion.canvas import canvas_segments, text_end, violates_padding
from constrain.diffusion.proposals import ProposalQueue
from constrain.diffusion.protocol import MaskedDiffusionModel, aligned_logits
from constrain.errors import ConstrainError
from constrain.generation import prompt_token_ids
from constrain.infill import Checker, Hole, Verdict

__all__ = ["DiffusionResult", "generate"]


@dataclass(frozen=True)
class DiffusionResult:
    """A decoded response; ``str(result)`` is its text.

    ``token_ids`` are the text tokens (EOS padding removed). ``steps`` counts forward passes.
    ``n_proposals`` counts (position, token) proposals examined, ``n_rejected`` those refused
    (by the checker, by a timeout or for standing after an EOS), ``n_timeouts`` the checks that
    timed out. ``check_seconds`` and ``forward_seconds`` split ``seconds``.
    """

    text: str
    token_ids: tuple[int, ...]
    steps: int
    n_proposals: int
    n_rejected: int
    n_timeouts: int
    seconds: float
    check_seconds: float
    forward_seconds: float

    def __str__(self) -> str:
        return self.text


def generate(
    model: MaskedDiffusionModel,
    tokenizer: Any,
    prompt: str | Sequence[dict[str, str]],
    grammar: CompiledGrammar | None,
    length: int,
    steps: int,
    *,
    block_length: int | None = None,
    temperature: float = 0.0,
    seed: int | None = None,
    check_timeout: float | None = None,
    chat: bool = True,
) -> DiffusionResult:
    """Decode a response of at most ``length`` tokens in ``steps`` forward passes.

    ``model`` follows :class:`~constrain.diffusion.MaskedDiffusionModel` (wrap Hugging Face
    models in ``LLaDAAdapter`` or ``DreamAdapter``). With a ``grammar``, the text is always a
    word of it; ``grammar=None`` decodes unconstrained (the baseline). ``block_length`` splits
    the canvas into blocks decoded left to right, ``steps`` shared equally among them.
    ``temperature == 0`` takes each position's tokens in logit order; above 0 they are drawn
    with Gumbel noise. ``check_timeout`` (seconds) bounds each check; a timeout rejects.
    Raises :class:`ConstrainError` on bad arguments, and before any forward pass when no word
    of the grammar fits in ``length`` tokens.
    """
    started = time.perf_counter()
    blocks = _blocks(length, steps, block_length)
    _check_options(model, grammar, temperature, check_timeout)
    checker = _Checks(grammar, check_timeout) if grammar is not None else None
    if checker is not None and not checker.exact([Hole(max_tokens=length)]):
        raise ConstrainError(f"no word of the grammar fits in length={length} tokens: increase length")
    prompt_ids = prompt_token_ids(tokenizer, prompt, chat)
    eos_ids = _eos_ids(grammar, tokenizer)
    state = _Decoding(model, prompt_ids, length, eos_ids, checker, temperature, seed)
    for block_start, block_end, block_steps in blocks:
        for step in range(block_steps):
            masked = state.masked_in(block_start, block_end)
            if not masked:
                break
            state.step(masked, math.ceil(len(masked) / (block_steps - step)))
    return state.result(grammar, tokenizer, started)


class _Checks:
    """The checker with a per-check time limit, timing and counting its calls."""

    def __init__(self, grammar: CompiledGrammar, timeout: float | None):
        self.checker = Checker(grammar)
        self.grammar = grammar
        self.vocab = grammar.vocab
        self.timeout = timeout
        self.seconds = 0.0
        self.n_timeouts = 0

    def verdict(self, segments: list) -> Verdict:
        started = time.perf_counter()
        verdict = self.checker.check(segments, timeout=self.timeout)
        self.seconds += time.perf_counter() - started
        self.n_timeouts += verdict == Verdict.TIMEOUT
        return verdict

    def exact(self, segments: list) -> bool:
        started = time.perf_counter()
        completable = self.checker.is_completable(segments)
        self.seconds += time.perf_counter() - started
        return completable


class _KnownPrefix:
    """The decided tokens before the first masked position, run through a matcher.

    Why: most rejected proposals sit at that position (semi-autoregressive decoding fills its
    blocks roughly left to right), and there the matcher refuses a token that kills the prefix
    in microseconds. Such a proposal cannot be completable, so the checker is spared; a token
    the matcher allows still goes to the checker, which also sees the tokens further right.
    """

    def __init__(self, grammar: CompiledGrammar):
        self.matcher = grammar.matcher()
        self.length = 0

    def rules_out(self, position: int, token: int) -> bool:
        return position == self.length and not self.matcher.is_allowed(token)

    def extend(self, canvas: np.ndarray, mask_id: int, is_eos: np.ndarray) -> None:
        """Consume the decided tokens that now follow the prefix, up to a mask or EOS."""
        while (
            self.length < len(canvas) and canvas[self.length] != mask_id and not is_eos[canvas[self.length]]
        ):
            if not self.matcher.advance(int(canvas[self.length])):
                raise ConstrainError("internal error: the checker accepted a canvas whose prefix is dead")
            self.length += 1


class _Decoding:
    """The canvas and counters of one generation."""

    def __init__(
        self,
        model: MaskedDiffusionModel,
        prompt_ids: list[int],
        length: int,
        eos_ids: np.ndarray,
        checker: _Checks | None,
        temperature: float,
        seed: int | None,
    ):
        self.model = model
        self.prompt = np.array(prompt_ids, dtype=np.int64)
        self.mask_id = model.mask_token_id
        self.canvas = np.full(length, self.mask_id, dtype=np.int64)
        self.eos_ids = eos_ids
        self.checker = checker
        self.prefix = _KnownPrefix(checker.grammar) if checker is not None else None
        self.temperature = temperature
        self.rng = np.random.default_rng(seed)
        self.proposable: np.ndarray | None = None
        self.is_eos = _eos_table(eos_ids, max(self.mask_id, *eos_ids.tolist()) + 1)
        self.steps = self.n_proposals = self.n_rejected = 0
        self.forward_seconds = 0.0

    def masked_in(self, start: int, end: int) -> list[int]:
        return (start + np.flatnonzero(self.canvas[start:end] == self.mask_id)).tolist()

    def step(self, masked: list[int], quota: int) -> None:
        """One forward pass, then accept proposals until ``quota`` positions are unmasked."""
        logits = self._forward()
        queue = ProposalQueue(logits[masked], masked, self._proposable(logits), self.temperature, self.rng)
        timed_out: list[tuple[int, int]] = []
        placed = 0
        candidates = np.array(masked)
        while placed < quota and (self.canvas[candidates] == self.mask_id).any():
            proposal = queue.pop()
            if proposal is None:
                proposal = self._retry_timed_out(timed_out)
                if proposal is None:
                    raise ConstrainError("internal error: no acceptable proposal on a completable canvas")
                self._place(*proposal)
                placed += 1
                continue
            row, position, token = proposal
            if self.canvas[position] != self.mask_id:
                continue
            self.n_proposals += 1
            verdict = self._judge(position, token)
            if verdict == Verdict.COMPLETABLE:
                self._place(position, token)
                placed += 1
            else:
                self.n_rejected += 1
                if verdict == Verdict.TIMEOUT:
                    timed_out.append((position, token))
                queue.reject(row)

    def _forward(self) -> np.ndarray:
        started = time.perf_counter()
        input_ids = torch.from_numpy(np.concatenate([self.prompt, self.canvas]))[None]
        logits = aligned_logits(self.model, input_ids)[len(self.prompt) :].float().cpu().numpy()
        self.forward_seconds += time.perf_counter() - started
        self.steps += 1
        if np.isnan(logits).any() or (logits == np.inf).any():
            raise ConstrainError("the model's logits contain NaN or +inf")
        return logits

    def _proposable(self, logits: np.ndarray) -> np.ndarray:
        if self.proposable is None:
            self.proposable = self._proposable_ids(logits.shape[-1])
            self.is_eos = _eos_table(self.eos_ids, max(len(self.is_eos), logits.shape[-1]))
        return self.proposable

    def _proposable_ids(self, width: int) -> np.ndarray:
        """Ids that may be proposed: text tokens and EOS of the grammar's vocabulary, never the mask."""
        if not 0 <= self.mask_id < width:
            raise ConstrainError(f"mask_token_id {self.mask_id} is not among the model's {width} logits")
        proposable = np.ones(width, dtype=bool)
        if self.checker is not None:
            vocab = self.checker.vocab
            if vocab.size > width:
                raise ConstrainError(
                    f"the grammar's vocabulary has {vocab.size} ids but the model gives only {width} logits"
                )
            has_text = np.array([len(data) > 0 for data in vocab.token_bytes], dtype=bool)
            proposable[: vocab.size] = has_text
            proposable[vocab.size :] = False
            proposable[self.eos_ids] = True
        if self.eos_ids.max() >= width:
            raise ConstrainError(f"EOS id {self.eos_ids.max()} is not among the model's {width} logits")
        proposable[self.mask_id] = False
        return proposable

    def _judge(self, position: int, token: int) -> Verdict:
        tentative = self.canvas.copy()
        tentative[position] = token
        if violates_padding(tentative, self.mask_id, self.is_eos):
            return Verdict.NOT_COMPLETABLE
        if self.checker is None:
            return Verdict.COMPLETABLE
        if self.prefix.rules_out(position, token):
            return Verdict.NOT_COMPLETABLE
        return self.checker.verdict(canvas_segments(tentative, self.mask_id, self.is_eos))

    def _retry_timed_out(self, timed_out: list[tuple[int, int]]) -> tuple[int, int] | None:
        """The first timed-out proposal that an exact check accepts on the current canvas."""
        for position, token in timed_out:
            if self.canvas[position] != self.mask_id:
                continue
            tentative = self.canvas.copy()
            tentative[position] = token
            if violates_padding(tentative, self.mask_id, self.is_eos):
                continue
            if self.checker is None or self.checker.exact(
                canvas_segments(tentative, self.mask_id, self.is_eos)
            ):
                return position, token
        return None

    def _place(self, position: int, token: int) -> None:
        self.canvas[position] = token
        if self.is_eos[token]:
            padding = self.canvas[position:] == self.mask_id
            self.canvas[position:][padding] = token
        if self.checker is not None:
            self.prefix.extend(self.canvas, self.mask_id, self.is_eos)

    def result(self, grammar: CompiledGrammar | None, tokenizer: Any, started: float) -> DiffusionResult:
        text_ids = self.canvas[: text_end(self.canvas, self.is_eos)].tolist()
        if grammar is not None:
            text = b"".join(grammar.vocab.token_bytes[t] for t in text_ids).decode("utf-8", errors="replace")
            _assert_word(grammar, text_ids)
        else:
            text = tokenizer.decode(text_ids)
        return DiffusionResult(
            text=text,
            token_ids=tuple(text_ids),
            steps=self.steps,
            n_proposals=self.n_proposals,
            n_rejected=self.n_rejected,
            n_timeouts=self.checker.n_timeouts if self.checker else 0,
            seconds=time.perf_counter() - started,
            check_seconds=self.checker.seconds if self.checker else 0.0,
            forward_seconds=self.forward_seconds,
        )


def _assert_word(grammar: CompiledGrammar, token_ids: list[int]) -> None:
    """A last, cheap guard: the matcher must accept the final text (the checker promised it)."""
    matcher = grammar.matcher()
    if not all(matcher.advance(t) for t in token_ids) or not matcher.is_accepting():
        raise ConstrainError("internal error: the decoded text is not a word of the grammar")


def _eos_table(eos_ids: np.ndarray, size: int) -> np.ndarray:
    """A boolean table over token ids, true at the EOS ids."""
    table = np.zeros(size, dtype=bool)
    table[eos_ids] = True
    return table


def _eos_ids(grammar: CompiledGrammar | None, tokenizer: Any) -> np.ndarray:
    if grammar is not None:
        return np.array(sorted(grammar.vocab.eos_token_ids), dtype=np.int64)
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise ConstrainError("unconstrained decoding needs a tokenizer with an eos_token_id")
    return np.array([eos], dtype=np.int64)


def _blocks(length: int, steps: int, block_length: int | None) -> list[tuple[int, int, int]]:
    """``(start, end, steps)`` of each block, after validating the three sizes."""
    for name, value in (("length", length), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConstrainError(f"{name} must be a positive int, got {value!r}")
    if steps > length:
        raise ConstrainError(f"steps={steps} exceeds length={length}: each step unmasks at least one token")
    size = length if block_length is None else block_length
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or length % size:
        raise ConstrainError(f"block_length must be a positive int dividing length={length}, got {size!r}")
    n_blocks = length // size
    if steps % n_blocks:
        raise ConstrainError(f"steps={steps} must be a multiple of the number of blocks ({n_blocks})")
    return [(start, start + size, steps // n_blocks) for start in range(0, length, size)]


def _check_options(model: Any, grammar: object, temperature: float, check_timeout: float | None) -> None:
    if not isinstance(model, MaskedDiffusionModel):
        raise ConstrainError(
            f"{type(model).__name__} is not a MaskedDiffusionModel (mask_token_id, shifted_logits, "
            "canvas_logits); wrap a Hugging Face model in LLaDAAdapter or DreamAdapter"
        )
    if grammar is not None and not isinstance(grammar, CompiledGrammar):
        raise ConstrainError(f"grammar must be a CompiledGrammar or None, got {type(grammar).__name__}")
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature < math.inf
    ):
        raise ConstrainError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if check_timeout is not None and (
        isinstance(check_timeout, bool) or not isinstance(check_timeout, int | float) or not check_timeout > 0
    ):
        raise ConstrainError(
            f"check_timeout must be a positive number of seconds or None, got {check_timeout!r}"
        )
