"""A transformers causal LM as the batched prefix scorer SMC calls, with one KV cache for all particles.

Why this shape: :func:`constrain.sampling.smc` only knows "give me next-token log probabilities
for these prefixes", which keeps the algorithm testable against explicit toy models. A real
model must not recompute prefixes, so this adapter remembers which prefix each row of its KV
cache holds and, on each call:

* maps every queried prefix to the cached row it extends (the longest cached prefix of it);
  identical queries share a row, and the prefixes SMC asks about to weigh forced tokens are
  answered from the positions of the same forward pass;
* reorders the cache rows with ``index_select`` (``DynamicCache.reorder_cache``), which is
  also how resampling's duplicated and dropped particles reach the cache;
* feeds each row its new tokens in one batched forward pass. Rows gain different numbers of
  tokens (fast-forward), so shorter rows are right-padded; the padding stays in the cache but
  is masked out for every later query through the 2-D attention mask, and explicit position
  ids count only real tokens.

The prompt is run once, as one row, and shared by all particles. Everything stays on the
model's device, the log probabilities handed to the sampler included (AWRS fetches only the
few values it checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from constrain.errors import SamplingError

__all__ = ["CachedCausalLM"]

_PAD_ID = 0  # any valid id: padded positions are masked out and their logits never read


class CachedCausalLM:
    """Next-token log probabilities (at ``temperature``) of ``prompt_ids + prefix`` for each prefix."""

    def __init__(self, model: Any, prompt_ids: Sequence[int], temperature: float = 1.0):
        self._model = model
        self._device = model.device
        self._temperature = temperature
        ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=self._device)
        self._attention = torch.ones_like(ids)
        output = model(input_ids=ids, attention_mask=self._attention, use_cache=True, logits_to_keep=1)
        self._cache = output.past_key_values
        self._rows: dict[tuple[int, ...], int] = {(): 0}
        self._next_logits = output.logits[:, -1].float()
        self.forward_passes = 1

    def __call__(self, prefixes: Sequence[Sequence[int]]) -> torch.Tensor:
        """A float64 ``(len(prefixes), V)`` tensor on the model's device."""
        queries = [tuple(int(t) for t in prefix) for prefix in prefixes]
        if not queries:
            return torch.zeros((0, self._next_logits.shape[-1]), dtype=torch.float64, device=self._device)
        plan = _plan_rows(queries, self._rows)
        logits_by_query = self._extend(plan)
        rows = torch.stack([logits_by_query[query] for query in queries])
        return torch.log_softmax(rows.double() / self._temperature, dim=-1)

    def _extend(self, plan: list[_Row]) -> dict[tuple[int, ...], torch.Tensor]:
        """Build the new cache rows of ``plan`` and return the logits of every prefix they cover."""
        bases = torch.tensor([row.base for row in plan], dtype=torch.long, device=self._device)
        self._cache.reorder_cache(bases)
        attention = self._attention.index_select(0, bases)
        base_logits = self._next_logits.index_select(0, bases)
        answers = {row.prefix[: row.base_length]: base_logits[index] for index, row in enumerate(plan)}
        next_logits = base_logits
        width = max(len(row.new_tokens) for row in plan)
        if width > 0:
            logits, attention = self._forward([row.new_tokens for row in plan], attention, width)
            last = torch.tensor([max(len(row.new_tokens) - 1, 0) for row in plan], device=self._device)
            fed = torch.tensor([bool(row.new_tokens) for row in plan], device=self._device)
            ends = logits[torch.arange(len(plan), device=self._device), last]
            next_logits = torch.where(fed.unsqueeze(1), ends, base_logits)
            for index, row in enumerate(plan):
                for offset in range(len(row.new_tokens)):
                    answers.setdefault(row.prefix[: row.base_length + offset + 1], logits[index, offset])
        self._attention = attention
        self._next_logits = next_logits
        self._rows = {row.prefix: index for index, row in enumerate(plan)}
        return answers

    def _forward(
        self, new_tokens: list[tuple[int, ...]], attention: torch.Tensor, width: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass of right-padded new tokens; logits ``(rows, width, V)`` and the new mask."""
        real = torch.tensor(
            [[1] * len(tokens) + [0] * (width - len(tokens)) for tokens in new_tokens],
            dtype=attention.dtype,
            device=self._device,
        )
        ids = torch.tensor(
            [list(tokens) + [_PAD_ID] * (width - len(tokens)) for tokens in new_tokens],
            dtype=torch.long,
            device=self._device,
        )
        positions = attention.sum(dim=1, keepdim=True) + torch.cumsum(real, dim=1) - 1
        positions = positions.clamp(min=0)
        attention = torch.cat([attention, real], dim=1)
        output = self._model(
            input_ids=ids,
            attention_mask=attention,
            position_ids=positions,
            past_key_values=self._cache,
            use_cache=True,
        )
        self._cache = output.past_key_values
        self.forward_passes += 1
        return output.logits.float(), attention


@dataclass(frozen=True)
class _Row:
    """A cache row to build: the full prefix it will hold, from cached row ``base`` plus new tokens."""

    prefix: tuple[int, ...]
    base: int
    base_length: int

    @property
    def new_tokens(self) -> tuple[int, ...]:
        return self.prefix[self.base_length :]


def _plan_rows(queries: list[tuple[int, ...]], cached: dict[tuple[int, ...], int]) -> list[_Row]:
    """The new rows: each maximal queried prefix with the cached row it extends.

    Longest queries first, so a query that is a prefix of a longer one (the forced-token
    prefixes) is answered from that one's row instead of getting its own.
    """
    covered: set[tuple[int, ...]] = set()
    plan: list[_Row] = []
    for query in sorted(set(queries), key=len, reverse=True):
        if query in covered:
            continue
        length = _longest_cached_prefix(query, cached)
        plan.append(_Row(query, cached[query[:length]], length))
        covered.update(query[:end] for end in range(length, len(query) + 1))
    return plan


def _longest_cached_prefix(query: tuple[int, ...], cached: dict[tuple[int, ...], int]) -> int:
    for length in range(len(query), -1, -1):
        if query[:length] in cached:
            return length
    raise SamplingError(
        f"the prefix {list(query)} extends no prefix the model's cache holds; a CachedCausalLM "
        "only answers prefixes that extend the ones of its previous call"
    )
