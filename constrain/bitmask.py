"""Applying token bitmasks to logits, on whatever device the logits live.

A matcher writes its allowed set as int32 words (bit ``t % 32`` of word ``t // 32`` is token
``t``). Models see logits, often on a GPU and often wider than the tokenizer (padded
vocabularies), so this module unpacks the words with vectorized shifts on the logits' device
and sets every disallowed logit to ``-inf``.

Width rules (the error contract of :func:`apply_bitmask`):

* a mask covering fewer than ``V`` tokens disallows the uncovered tail (padding ids the
  tokenizer never produces);
* a mask covering more than ``V`` tokens is accepted as long as no bit at or beyond ``V`` is
  set; a set bit there means the grammar allows a token the model cannot emit, which is a
  vocabulary mismatch, so it raises :class:`~constrain.errors.MatcherError`. The check runs on
  the host for numpy and CPU-tensor masks; masks already on a CUDA device are not checked,
  because checking would force a device synchronization;
* wrong dtypes (the mask must be int32) and incompatible shapes raise ``MatcherError``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from constrain.errors import MatcherError

_BITS_PER_WORD = 32
_PINNED_CACHE_SIZE = 4
_SHIFTS_CACHE: dict[torch.device, torch.Tensor] = {}


class _PinnedUploader:
    """Reuses a few page-locked host buffers so mask uploads can be asynchronous.

    A buffer is only rewritten after the copy that last read it has finished (tracked by a
    CUDA event), so overlapping ``non_blocking`` uploads never see a half-overwritten mask.
    """

    def __init__(self, capacity: int):
        self._capacity = capacity
        self._buffers: OrderedDict[tuple[int, ...], tuple[torch.Tensor, torch.cuda.Event | None]] = (
            OrderedDict()
        )

    def upload(self, host: np.ndarray, device: torch.device) -> torch.Tensor:
        key = tuple(host.shape)
        buffer, pending = self._buffers.pop(key, (None, None))
        if buffer is None:
            buffer = torch.empty(key, dtype=torch.int32, pin_memory=True)
        elif pending is not None:
            pending.synchronize()
        buffer.numpy()[...] = host
        on_device = buffer.to(device, non_blocking=True)
        done = torch.cuda.Event()
        done.record(torch.cuda.current_stream(device))
        self._buffers[key] = (buffer, done)
        while len(self._buffers) > self._capacity:
            self._buffers.popitem(last=False)
        return on_device


_UPLOADER = _PinnedUploader(_PINNED_CACHE_SIZE)


def apply_bitmask(logits: torch.Tensor, bitmask: np.ndarray | torch.Tensor) -> None:
    """Set the logits of disallowed tokens to ``-inf`` in place.

    ``logits`` is ``(V,)`` or ``(B, V)`` of any floating dtype on any device; ``bitmask`` is
    ``(W,)`` or ``(B, W)`` int32 words (a 1-D mask is applied to every row of batched logits).
    See the module docstring for the rules on widths that differ from ``V``.
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise MatcherError("logits must be a floating-point torch.Tensor")
    if logits.ndim not in (1, 2):
        raise MatcherError(f"logits must be (V,) or (B, V), got shape {tuple(logits.shape)}")
    words = _checked_words(bitmask, logits)
    vocab_size = logits.shape[-1]
    if words.device.type == "cpu":
        _check_no_bits_beyond(words, vocab_size)
    allowed = _unpack(_to_device(words, logits.device), vocab_size)
    logits.masked_fill_(~allowed, float("-inf"))


def allowed_token_ids(bitmask: np.ndarray, size: int) -> np.ndarray:
    """The ids ``< size`` whose bit is set in a 1-D int32 mask, ascending (int64)."""
    words = np.ascontiguousarray(bitmask)
    if words.dtype != np.int32 or words.ndim != 1:
        raise MatcherError(f"bitmask must be a 1-D int32 array, got {words.dtype} {words.shape}")
    bits = np.unpackbits(words.view(np.uint8), bitorder="little")
    return np.flatnonzero(bits[:size]).astype(np.int64)


def _checked_words(bitmask: np.ndarray | torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    if isinstance(bitmask, np.ndarray):
        if bitmask.dtype != np.int32:
            raise MatcherError(f"bitmask must have dtype int32, not {bitmask.dtype}")
        words = torch.from_numpy(np.ascontiguousarray(bitmask))
    elif isinstance(bitmask, torch.Tensor):
        if bitmask.dtype != torch.int32:
            raise MatcherError(f"bitmask must have dtype int32, not {bitmask.dtype}")
        words = bitmask
    else:
        raise MatcherError(f"bitmask must be a numpy array or torch.Tensor, not {type(bitmask).__name__}")
    if words.ndim not in (1, 2) or words.ndim > logits.ndim:
        raise MatcherError(
            f"bitmask of shape {tuple(words.shape)} does not fit logits of shape {tuple(logits.shape)}"
        )
    if words.ndim == 2 and words.shape[0] != logits.shape[0]:
        raise MatcherError(f"bitmask has {words.shape[0]} rows but logits have {logits.shape[0]}")
    return words


def _check_no_bits_beyond(words: torch.Tensor, vocab_size: int) -> None:
    """Raise if any token id ``>= vocab_size`` is allowed (the model cannot emit it)."""
    width = words.shape[-1]
    if width * _BITS_PER_WORD <= vocab_size:
        return
    first_word = vocab_size // _BITS_PER_WORD
    tail = words[..., first_word:].numpy().view(np.uint32).copy()
    tail[..., 0] &= ~np.uint32((1 << (vocab_size % _BITS_PER_WORD)) - 1)
    if tail.any():
        raise MatcherError(f"bitmask allows token ids >= {vocab_size}, beyond the logits' vocabulary")


def _to_device(words: torch.Tensor, device: torch.device) -> torch.Tensor:
    if words.device == device:
        return words
    if device.type == "cuda" and words.device.type == "cpu":
        return _UPLOADER.upload(words.numpy(), device)
    return words.to(device)


def _unpack(words: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Boolean ``(..., vocab_size)`` allowed-ness; ids past the mask's coverage are False."""
    shifts = _SHIFTS_CACHE.get(words.device)
    if shifts is None:
        shifts = torch.arange(_BITS_PER_WORD, dtype=torch.int32, device=words.device)
        _SHIFTS_CACHE[words.device] = shifts
    bits = (words.unsqueeze(-1) >> shifts) & 1
    allowed = bits.reshape(*words.shape[:-1], -1).bool()
    covered = min(allowed.shape[-1], vocab_size)
    if covered == vocab_size:
        return allowed[..., :vocab_size]
    padding = torch.zeros((*allowed.shape[:-1], vocab_size - covered), dtype=torch.bool, device=words.device)
    return torch.cat([allowed, padding], dim=-1)
