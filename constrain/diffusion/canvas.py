"""The response canvas of diffusion decoding and its reading as checker segments.

A canvas is one token id per position, the mask id where nothing is decided yet. A finished
canvas is text followed by EOS padding (LLaDA pads with EOS), so the text ends at the first
EOS, and every later position must be EOS too. A partial canvas reads as the segments the
additive-infilling checker takes: runs of decided text tokens, each interior run of k masked
positions as ``Hole(tokens=k)`` (text must follow it, so all k are text tokens), and the
masked run before the end of the text as ``Hole(max_tokens=k)`` (some of those positions may
become EOS padding).

EOS ids are given as ``is_eos``, a boolean table indexed by token id (mask id included), which
keeps these per-proposal functions to a few vectorized operations.
"""

from __future__ import annotations

import numpy as np

from constrain.infill import Hole

__all__ = ["Segment", "canvas_segments", "text_end", "violates_padding"]

Segment = list[int] | Hole


def text_end(canvas: np.ndarray, is_eos: np.ndarray) -> int:
    """Index of the first EOS, or the canvas length: where the text must end."""
    eos_positions = np.flatnonzero(is_eos[canvas])
    return int(eos_positions[0]) if len(eos_positions) else len(canvas)


def violates_padding(canvas: np.ndarray, mask_id: int, is_eos: np.ndarray) -> bool:
    """Whether a decided text token stands after an EOS (the padding must be EOS only)."""
    after = canvas[text_end(canvas, is_eos) :]
    return bool(((after != mask_id) & ~is_eos[after]).any())


def canvas_segments(canvas: np.ndarray, mask_id: int, is_eos: np.ndarray) -> list[Segment]:
    """The checker's segments for the text part of ``canvas`` (see the module docstring).

    The caller must have ruled out :func:`violates_padding`; positions after the first EOS
    are padding and are not part of the text.
    """
    text = canvas[: text_end(canvas, is_eos)]
    if len(text) == 0:
        return []
    masked = text == mask_id
    starts = np.flatnonzero(np.concatenate(([True], masked[1:] != masked[:-1]))).tolist()
    ends = [*starts[1:], len(text)]
    segments: list[Segment] = []
    for start, end in zip(starts, ends, strict=True):
        if not masked[start]:
            segments.append(text[start:end].tolist())
        elif end == len(text):
            segments.append(Hole(max_tokens=end - start))
        else:
            segments.append(Hole(tokens=end - start))
    return segments
