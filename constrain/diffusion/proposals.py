"""One decoding step's (position, token) proposals, best first, produced lazily.

Why lazily: every token at every masked position is a candidate (so that the loop can never
get stuck while the canvas is completable), but a step typically needs only a few of them,
and with a 126k vocabulary sorting every row would cost far more than the checks. Each
position keeps its candidates in its own order (the model's logits, plus Gumbel noise when
sampling, so that the first accepted token is an exact draw from the model restricted to the
acceptable tokens) and sorts them only as far as rejections demand. Across positions, a heap
holds each position's next candidate keyed by the model's probability of that token, which
is LLaDA's low-confidence remasking order: the most confident (position, token) pair first.
"""

from __future__ import annotations

import heapq

import numpy as np

__all__ = ["ProposalQueue"]

_FIRST_SORTED = 8


class _Candidates:
    """Token ids of one position by decreasing ranking score, sorted lazily; -inf means never."""

    def __init__(self, ranking: np.ndarray, first: list[int]):
        self._ranking = ranking
        self._order = first
        self._complete = len(first) == len(ranking)

    def at(self, rank: int) -> int | None:
        """The token of the given rank, or None when the position has no candidate left."""
        if rank >= len(self._order) and not self._complete:
            tried = set(self._order)
            full = np.argsort(-self._ranking, kind="stable").tolist()
            self._order += [token for token in full if token not in tried]
            self._complete = True
        if rank >= len(self._order) or self._ranking[self._order[rank]] == -np.inf:
            return None
        return self._order[rank]


class ProposalQueue:
    """The proposals of one step over the given masked positions, most confident first.

    ``logits`` (float, finite or -inf) has one row per position of ``positions`` and one column
    per vocabulary id; ``proposable`` (bool per id) says which ids may ever be proposed (never
    the mask token, never ids without text that are not EOS). Call :meth:`pop` for the next
    proposal and, when it is rejected, :meth:`reject` to queue that position's next candidate.
    """

    def __init__(
        self,
        logits: np.ndarray,
        positions: list[int],
        proposable: np.ndarray,
        temperature: float,
        rng: np.random.Generator,
    ):
        scores = logits.astype(np.float32, copy=False)
        self._confidence = _log_softmax(scores)
        # Tokens the model rules out (-inf) still come last: every proposable id is a candidate.
        ranking = np.maximum(scores, np.finfo(np.float32).min / 2)
        if temperature > 0:
            ranking = ranking / temperature - np.log(
                rng.standard_exponential(ranking.shape, dtype=np.float32)
            )
        ranking[:, ~proposable] = -np.inf
        first = min(_FIRST_SORTED, ranking.shape[-1])
        top = np.argpartition(-ranking, first - 1, axis=-1)[:, :first]
        top_order = np.argsort(-np.take_along_axis(ranking, top, axis=-1), axis=-1, kind="stable")
        firsts = np.take_along_axis(top, top_order, axis=-1).tolist()
        self._positions = positions
        self._candidates = [_Candidates(row, first) for row, first in zip(ranking, firsts, strict=True)]
        self._ranks = [0] * len(positions)
        self._heap: list[tuple[float, int, int]] = []
        for row in range(len(positions)):
            self._push(row)

    def pop(self) -> tuple[int, int, int] | None:
        """``(row, position, token)`` of the best remaining proposal, or None if none is left."""
        if not self._heap:
            return None
        _, row, token = heapq.heappop(self._heap)
        return row, self._positions[row], token

    def reject(self, row: int) -> None:
        """Queue the next candidate of ``row``'s position after its current one was rejected."""
        self._ranks[row] += 1
        self._push(row)

    def _push(self, row: int) -> None:
        token = self._candidates[row].at(self._ranks[row])
        if token is not None:
            heapq.heappush(self._heap, (-float(self._confidence[row, token]), row, token))


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in numpy ; -inf rows stay -inf."""
    top = scores.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return scores - top - np.log(np.exp(scores - top).sum(axis=1, keepdims=True))
