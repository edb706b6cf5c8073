"""A ``transformers`` logits processor that keeps every row of ``model.generate`` in its grammar.

Why a stateful processor: ``generate`` calls processors with the whole ``input_ids`` each step
but says nothing about which tokens are new, so the processor remembers the previous call's
rows and advances each row's matcher by the one token appended since. The first call sees
only the prompt, which is not grammar output, so nothing is advanced then; this also makes
left padding harmless. Rows must extend the rows of the previous call: beam search reorders
rows between steps, which would pair rows with the wrong matchers, so it is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import transformers

from constrain.bitmask import apply_bitmask
from constrain.compiled_grammar import CompiledGrammar
from constrain.errors import ConstrainError, MatcherError
from constrain.matcher import Matcher

__all__ = ["LogitsProcessor", "only_end_tokens_allowed"]


class LogitsProcessor(transformers.LogitsProcessor):
    """Masks ``generate``'s scores so row ``b`` follows its grammar; one instance per generate call.

    ``grammars`` is one compiled grammar for all rows or a sequence with one per row. Supports
    greedy and sampling with ``num_beams=1``; ``reset()`` readies the instance for a new call.
    """

    def __init__(self, grammars: CompiledGrammar | Sequence[CompiledGrammar]):
        if isinstance(grammars, CompiledGrammar):
            self._shared: CompiledGrammar | None = grammars
            self._per_row: tuple[CompiledGrammar, ...] = ()
        else:
            self._per_row = tuple(grammars)
            self._shared = None
            if not self._per_row or not all(isinstance(g, CompiledGrammar) for g in self._per_row):
                raise ConstrainError("LogitsProcessor needs a CompiledGrammar or a non-empty list of them")
        self.reset()

    def reset(self) -> None:
        """Forget all rows, so the next call starts a new generation."""
        self.matchers: list[Matcher] = []
        self._previous: torch.Tensor | None = None
        self._bitmask: np.ndarray | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._previous is None:
            self._start(input_ids.shape[0])
        else:
            self._check_rows_extend_previous(input_ids)
            self._advance_rows(input_ids[:, -1].tolist())
        self._previous = input_ids.detach().clone()
        self._mask_scores(scores)
        return scores

    @property
    def finished(self) -> list[bool]:
        """Per row: whether its end token has been seen (``generate`` never shows the last token)."""
        return [matcher.is_terminated() for matcher in self.matchers]

    def _start(self, batch: int) -> None:
        grammars = self._grammars_for(batch)
        self.matchers = [grammar.matcher() for grammar in grammars]
        self._vocabs = [grammar.vocab for grammar in grammars]
        widths = {grammar.vocab.allocate_bitmask().shape[0] for grammar in grammars}
        if len(widths) != 1:
            raise ConstrainError("all grammars of one LogitsProcessor must share a vocabulary size")
        self._bitmask = np.zeros((batch, widths.pop()), dtype=np.int32)

    def _grammars_for(self, batch: int) -> tuple[CompiledGrammar, ...]:
        if self._shared is not None:
            return (self._shared,) * batch
        if len(self._per_row) != batch:
            raise ConstrainError(
                f"LogitsProcessor got {len(self._per_row)} grammars for a batch of {batch} rows; "
                "give one grammar per prompt (and num_beams=1, num_return_sequences=1)"
            )
        return self._per_row

    def _check_rows_extend_previous(self, input_ids: torch.Tensor) -> None:
        previous = self._previous
        assert previous is not None
        extends = (
            input_ids.shape[0] == previous.shape[0]
            and input_ids.shape[1] == previous.shape[1] + 1
            and torch.equal(input_ids[:, :-1], previous.to(input_ids.device))
        )
        if not extends:
            raise ConstrainError(
                "input_ids do not extend the rows of the previous call: beam search (num_beams > 1) is "
                "not supported, and a LogitsProcessor serves one generate() call (call reset() between calls)"
            )

    def _advance_rows(self, tokens: list[int]) -> None:
        """Feed each unfinished row its new token; finished rows only ever receive padding."""
        for row, (matcher, token) in enumerate(zip(self.matchers, tokens, strict=True)):
            if matcher.is_terminated():
                continue
            if not matcher.advance(token):
                raise MatcherError(
                    f"row {row} received token {token}, which its grammar does not allow; another "
                    "logits processor or warper after this one must not make masked tokens finite"
                )

    def _mask_scores(self, scores: torch.Tensor) -> None:
        bitmask = self._bitmask
        assert bitmask is not None
        for row, matcher in enumerate(self.matchers):
            matcher.fill_bitmask(bitmask, row)
            if not bitmask[row].any():
                raise MatcherError(f"row {row}: the grammar allows no token here (its language is empty)")
        apply_bitmask(scores, bitmask)
        for row, (matcher, vocab) in enumerate(zip(self.matchers, self._vocabs, strict=True)):
            if matcher.is_terminated() or only_end_tokens_allowed(bitmask[row], vocab.eos_token_ids):
                _force_token(scores, row, vocab.eos_token_id)


def only_end_tokens_allowed(row: np.ndarray, eos_token_ids: frozenset[int]) -> bool:
    """Whether the mask words ``row`` allow end tokens and nothing else (the output is complete)."""
    others = row.view(np.uint32).copy()
    for token in eos_token_ids:
        if token // 32 < len(others):
            others[token // 32] &= np.uint32(~(1 << (token % 32)) & 0xFFFFFFFF)
    return not others.any() and bool(row.any())


def _force_token(scores: torch.Tensor, row: int, token: int) -> None:
    """Make ``token`` the only finite score of ``row``, so greedy and sampling both pick it."""
    scores[row].fill_(-float("inf"))
    scores[row, token] = 0.0
