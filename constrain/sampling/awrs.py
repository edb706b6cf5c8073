"""Adaptive weighted rejection sampling (AWRS) of one constrained token.

Why: computing the full allowed-token mask costs a walk over the whole vocabulary, while a
language model that already agrees with the grammar puts almost all its mass on a handful of
tokens. AWRS (Lipkin et al. 2025) checks tokens one at a time in the order of a sample
*without replacement* from the model, p, and returns the first allowed one. That token is
distributed exactly as the locally constrained ``p(x) 1[x allowed] / Z``.

The weight makes the pair properly weighted for the unnormalized target ``p(x) 1[x allowed]``:
``E[w h(x)] = sum_{x allowed} p(x) h(x)`` for every h (so ``E[w] = Z``), which is what SMC
needs. It is the paper's recursive estimator, which telescopes to a closed form. Write S_k for
the tokens left after k rejections, ``R_k = p(S_k)`` for their mass and y for the accepted
token. Then the estimator is

    w = p(y)              if the next token in the without-replacement order is rejected,
    w = R_k               if it is allowed (one extra check),
    w = p(y)              if no token with positive probability is left after y.

Why this is unbiased, by induction on the remaining set S with ``q = p / p(S)``:
* A rejected first draw x leaves ``Z_S = (1 - q(x)) Z_{S - x}`` exactly.
* After an accepted draw y, ``q(y) + (1 - q(y)) 1[next allowed]`` is an unbiased estimate
  of ``Z_S``, because the next token in the order is a draw from ``q`` on ``S - y``.

Multiplying the rejection factors gives ``R_k`` (they telescope), hence the closed form.
The naive ``1 - rejected mass`` is biased because it ignores the allowed mass beyond y.

The recursive estimator always spends a second check. When the top token has ``p >= 2/3``,
the paper's geometric variant is cheaper (fewer than two distinct checks in expectation). It
simulates sampling *with* replacement until two draws are allowed, caching every verdict.
Draws that land in the already-rejected set R need no check. While ``p(R) < 1/2`` they are
simply redrawn and counted; beyond that, their number before the next draw outside R is
drawn at once, as a geometric variable with success probability ``1 - p(R)``.
With n draws in all, ``w = 1 / (n - 1)``: the draws' allowed/rejected pattern
is Bernoulli(Z), so this is the unbiased negative-binomial estimate of Z, and it does not
depend on the identity of the first allowed draw, which is returned.

After ``max_rejections`` rejections, if ``full_mask`` is given, the step falls back to the
exact allowed set and stays exact:

* recursive: the token is the highest Gumbel key among allowed tokens (an exact draw from p
  restricted to them) and the weight is exactly ``Z = p(allowed)``. The switch depends only
  on how many tokens were rejected, so the recursion above still holds.
* geometric: with Z known, the rest of the allowed/rejected pattern is simulated without
  checks (geometric waiting times). A missing first allowed token is drawn exactly from p
  restricted to the allowed set. The output has exactly the law of the unlimited run.

Without ``full_mask`` the walk simply continues.

Device traffic: the row stays where it is (a torch tensor on the model's device; a numpy array
is wrapped without copying). The Gumbel keys are drawn there, from a torch generator seeded
by ``rng``. The host fetches only what the walk reads, through :func:`to_host`: candidates in
key order with their log probabilities, in chunks from ``torch.topk`` that grow 16, 64,
256... (so O(checks) values), and a few scalars (the normalizer, a remaining mass, a draw).
The fallback uploads the bitmask, masks on the device and fetches the token and the mass.

When no token with positive probability is allowed, the result has ``token=None`` and
``log_weight=-inf`` (a particle with zero weight). ``is_allowed`` and ``full_mask`` must agree;
``logprobs`` need not be normalized (they are renormalized, and weights refer to the
normalized distribution). A ``logprobs`` that is not 1-D, holds NaN or +inf, or has no finite
entry raises :class:`~constrain.errors.SamplingError`; so do bad arguments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from constrain.bitmask import apply_bitmask
from constrain.errors import SamplingError

_FIRST_CHUNK = 16
_CHUNK_GROWTH = 4
_PRECISE_MASS_BELOW = 0.5
_LOG_GEOMETRIC_THRESHOLD = math.log(2 / 3)
_ALLOWED_DRAWS_NEEDED = 2
_REDRAW_BELOW = 0.5
_SEED_BOUND = 2**63
_TINY = torch.finfo(torch.float64).tiny

Variant = Literal["auto", "recursive", "geometric"]
Row = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class AWRSResult:
    """One AWRS step: the token (None if nothing is allowed), its log weight and its cost."""

    token: int | None
    log_weight: float
    n_checks: int
    used_full_mask: bool


def to_host(values: torch.Tensor) -> np.ndarray:
    """The one door from the row's device to the host: every value AWRS reads passes here."""
    return values.detach().cpu().numpy()


def as_float64_tensor(values: Row) -> torch.Tensor:
    """A tensor stays on its device; anything else becomes a (contiguous, writable) CPU tensor."""
    if isinstance(values, torch.Tensor):
        return values.to(torch.float64)
    return torch.from_numpy(np.array(values, dtype=np.float64))


class _KeyOrder:
    """Token ids by decreasing Gumbel key, with their log probabilities, fetched lazily.

    Most walks stop within the first few ids, so the host holds only the top of the order:
    ``torch.topk`` of 16 ids first, then 4 times more each time the walk runs past the end
    (only the new ids are fetched). Ids without probability end the order.
    """

    def __init__(self, keys: torch.Tensor, logp: torch.Tensor):
        self._keys = keys
        self._logp = logp
        self._ids: list[int] = []
        self._logps: list[float] = []
        self._fetched = 0

    def at(self, position: int) -> tuple[int, float] | None:
        """The ``(token, log p)`` at ``position``, or None past the last token with probability."""
        while position >= self._fetched and self._fetched < len(self._keys):
            self._grow(max(_FIRST_CHUNK, self._fetched * _CHUNK_GROWTH))
        if position >= len(self._ids):
            return None
        return self._ids[position], self._logps[position]

    def _grow(self, size: int) -> None:
        size = min(size, len(self._keys))
        new = torch.topk(self._keys, size).indices[self._fetched :]
        ids, logps = to_host(torch.stack([new.double(), self._logp[new]]))
        with_mass = int(np.count_nonzero(logps > -np.inf))  # they come first: keys are sorted
        self._ids += ids[:with_mass].astype(np.int64).tolist()
        self._logps += logps[:with_mass].tolist()
        self._fetched = size if with_mass == len(ids) else len(self._keys)


def awrs_step(
    logprobs: Row,
    is_allowed: Callable[[int], bool],
    rng: np.random.Generator,
    *,
    max_rejections: int = 64,
    full_mask: Callable[[], np.ndarray] | None = None,
    variant: Variant = "auto",
) -> AWRSResult:
    """Draw one allowed token exactly from the locally constrained distribution, with a weight.

    ``logprobs`` is a 1-D torch tensor (left on its device) or numpy array. ``full_mask()``
    returns the int32 bitmask words of the allowed set (``Matcher.fill_bitmask`` format); it is
    called at most once, after ``max_rejections`` rejections. ``variant="auto"`` uses the
    geometric estimator when the top token has probability at least 2/3.
    """
    if isinstance(max_rejections, bool) or not isinstance(max_rejections, int) or max_rejections < 0:
        raise SamplingError(f"max_rejections must be a non-negative int, got {max_rejections!r}")
    if variant not in ("auto", "recursive", "geometric"):
        raise SamplingError(f"variant must be 'auto', 'recursive' or 'geometric', got {variant!r}")
    logp, log_top = _normalized(logprobs)
    if variant == "geometric" or (variant == "auto" and log_top >= _LOG_GEOMETRIC_THRESHOLD):
        return _geometric_step(logp, is_allowed, rng, max_rejections, full_mask)
    return _recursive_step(logp, is_allowed, rng, max_rejections, full_mask)


def _recursive_step(
    logp: torch.Tensor,
    is_allowed: Callable[[int], bool],
    rng: np.random.Generator,
    max_rejections: int,
    full_mask: Callable[[], np.ndarray] | None,
) -> AWRSResult:
    """Walk the Gumbel order; weight p(y) or R_k depending on the next token (module docstring)."""
    keys = _gumbel_keys(logp, rng)
    order = _KeyOrder(keys, logp)
    rejected: list[int] = []
    rejected_logps: list[float] = []
    n_checks = 0
    while True:
        candidate = order.at(len(rejected))
        if candidate is None:
            return AWRSResult(None, -math.inf, n_checks, False)
        if len(rejected) >= max_rejections and full_mask is not None:
            return _exact_from_mask(logp, keys, full_mask(), n_checks)
        token, token_logp = candidate
        n_checks += 1
        if not is_allowed(token):
            rejected.append(token)
            rejected_logps.append(token_logp)
            continue
        following = order.at(len(rejected) + 1)
        if following is None:
            return AWRSResult(token, token_logp, n_checks, False)
        n_checks += 1
        if is_allowed(following[0]):
            return AWRSResult(token, _log_remaining_mass(logp, rejected, rejected_logps), n_checks, False)
        return AWRSResult(token, token_logp, n_checks, False)


def _geometric_step(
    logp: torch.Tensor,
    is_allowed: Callable[[int], bool],
    rng: np.random.Generator,
    max_rejections: int,
    full_mask: Callable[[], np.ndarray] | None,
) -> AWRSResult:
    """Simulate draws with replacement until two are allowed; weight 1 / (draws - 1).

    While the rejected mass is small, a draw landing on a rejected token is simply redrawn
    (and counted); once it is large, the draws inside the rejected set are skipped in one
    geometric variable and the next draw comes from the unrejected tokens.
    """
    probs = torch.exp(logp)
    full_cumulative = _Cumulative(probs)
    unrejected_cumulative: _Cumulative | None = None
    verdicts: dict[int, bool] = {}
    first_allowed: int | None = None
    n_allowed = n_draws = n_rejected = 0
    rejected_mass = 0.0
    while n_allowed < _ALLOWED_DRAWS_NEEDED:
        if n_rejected >= max_rejections and full_mask is not None:
            return _geometric_completion(
                logp, full_mask(), rng, first_allowed, n_allowed, n_draws, len(verdicts)
            )
        if rejected_mass < _REDRAW_BELOW:
            token, prob = full_cumulative.draw(probs, rng)
            n_draws += 1
            if verdicts.get(token) is False:
                continue
        else:
            if unrejected_cumulative is None:
                unrejected = probs.clone()
                unrejected[_on_device([t for t, ok in verdicts.items() if not ok], probs)] = 0.0
                unrejected_cumulative = _Cumulative(unrejected)
            if unrejected_cumulative.total <= 0.0:
                return AWRSResult(None, -math.inf, len(verdicts), False)
            n_draws += int(rng.geometric(min(unrejected_cumulative.total, 1.0)))
            token, prob = unrejected_cumulative.draw(probs, rng)
        if token not in verdicts:
            verdicts[token] = bool(is_allowed(token))
            if not verdicts[token]:
                n_rejected += 1
                rejected_mass += prob
                unrejected_cumulative = None
        if verdicts[token]:
            n_allowed += 1
            first_allowed = token if first_allowed is None else first_allowed
    return AWRSResult(first_allowed, -math.log(n_draws - 1), len(verdicts), False)


def _geometric_completion(
    logp: torch.Tensor,
    words: np.ndarray,
    rng: np.random.Generator,
    first_allowed: int | None,
    n_allowed: int,
    n_draws: int,
    n_checks: int,
) -> AWRSResult:
    """Finish the with-replacement run without checks, knowing Z exactly from the full mask."""
    allowed_logp = logp.clone()
    apply_bitmask(allowed_logp, words)
    log_z = float(to_host(torch.logsumexp(allowed_logp, 0)))
    if log_z == -math.inf:
        return AWRSResult(None, -math.inf, n_checks, True)
    if first_allowed is None:
        first_allowed = int(to_host(torch.argmax(_gumbel_keys(allowed_logp, rng))))
    z = min(math.exp(log_z), 1.0)
    for _ in range(_ALLOWED_DRAWS_NEEDED - n_allowed):
        n_draws += int(rng.geometric(z))
    return AWRSResult(first_allowed, -math.log(n_draws - 1), n_checks, True)


class _Cumulative:
    """Cumulative sums of unnormalized probabilities on the device, for inverse-CDF draws."""

    def __init__(self, weights: torch.Tensor):
        self._sums = torch.cumsum(weights, 0)
        self.total = float(to_host(self._sums[-1]))

    def draw(self, probs: torch.Tensor, rng: np.random.Generator) -> tuple[int, float]:
        """A draw proportional to the weights (never a zero-weight id), and its ``probs`` entry."""
        points = torch.tensor([rng.random() * self.total, self.total], dtype=self._sums.dtype)
        points = points.to(self._sums.device)
        inside = torch.searchsorted(self._sums, points[:1], right=True)
        last_with_weight = torch.searchsorted(self._sums, points[1:])
        index = torch.where(inside < len(self._sums), inside, last_with_weight)
        token, prob = to_host(torch.cat([index.double(), probs[index]]))
        return int(token), float(prob)


def _gumbel_keys(logp: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """``logp`` plus Gumbel noise ``-log(E)``, drawn on the row's device from a generator seeded by ``rng``.

    ``E = -log1p(-U)`` is Exp(1) by inversion; on CPU it is about 2x faster than ``exponential_``.
    """
    generator = torch.Generator(device=logp.device)
    generator.manual_seed(int(rng.integers(_SEED_BOUND)))
    uniform = torch.rand(logp.shape, dtype=logp.dtype, device=logp.device, generator=generator)
    exponential = torch.log1p(uniform.neg_()).neg_().clamp_min_(_TINY)
    return logp - exponential.log_()


def _normalized(logprobs: Row) -> tuple[torch.Tensor, float]:
    """The row as float64 log probabilities summing to one, on its device, and the largest of them."""
    row = as_float64_tensor(logprobs)
    if row.ndim != 1:
        raise SamplingError(f"logprobs must be 1-D, got shape {tuple(row.shape)}")
    if len(row) == 0:
        raise SamplingError("logprobs has no finite entry: the model puts no mass anywhere")
    log_total = torch.logsumexp(row, 0)
    top, log_norm = to_host(torch.stack([row.max(), log_total]))  # the max is NaN if any entry is
    if math.isnan(top) or top == math.inf:
        raise SamplingError("logprobs contains NaN or +inf")
    if top == -np.inf:
        raise SamplingError("logprobs has no finite entry: the model puts no mass anywhere")
    return row - log_total, float(top - log_norm)


def _log_remaining_mass(logp: torch.Tensor, rejected: list[int], rejected_logps: list[float]) -> float:
    """log p(tokens not rejected); summed on the device once cancellation in ``1 - mass`` would hurt."""
    if not rejected:
        return 0.0
    mass = math.fsum(math.exp(value) for value in rejected_logps)
    if mass < _PRECISE_MASS_BELOW:
        return math.log1p(-mass)
    kept = logp.clone()
    kept[_on_device(rejected, logp)] = -math.inf
    return float(to_host(torch.logsumexp(kept, 0)))


def _exact_from_mask(logp: torch.Tensor, keys: torch.Tensor, words: np.ndarray, n_checks: int) -> AWRSResult:
    """Exact draw from p on the allowed set (argmax of Gumbel keys) with weight p(allowed)."""
    allowed = torch.stack([keys, logp])
    apply_bitmask(allowed, words)
    token = torch.argmax(allowed[0])
    best_key, log_z, token_id = to_host(
        torch.stack([allowed[0, token], torch.logsumexp(allowed[1], 0), token.double()])
    )
    if best_key == -np.inf:
        return AWRSResult(None, -math.inf, n_checks, True)
    return AWRSResult(int(token_id), float(log_z), n_checks, True)


def _on_device(ids: list[int], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(ids, dtype=torch.long).to(like.device)
