"""What the decoding loop needs from a masked-diffusion language model.

Any model that maps a canvas (prompt plus a response in which some positions hold a mask
token) to logits at every position can be decoded: LLaDA and Dream both do. They differ in
one convention, which the protocol states: LLaDA's logits at position i predict token i,
Dream's (trained from an autoregressive model) predict token i + 1, so the decoder reads the
logits for position i at i - 1 (and, for position 0, at 0, as Dream's own sampler does).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

__all__ = ["MaskedDiffusionModel", "aligned_logits"]


@runtime_checkable
class MaskedDiffusionModel(Protocol):
    """A denoiser: ``canvas_logits((1, n) token ids) -> (1, n, vocab)`` float logits.

    ``mask_token_id`` is the id written at positions still to be decoded. ``shifted_logits``
    is False when the logits at position i predict token i (LLaDA), True when they predict
    token i + 1 (Dream).
    """

    mask_token_id: int
    shifted_logits: bool

    def canvas_logits(self, input_ids: torch.Tensor) -> torch.Tensor: ...


def aligned_logits(model: MaskedDiffusionModel, input_ids: torch.Tensor) -> torch.Tensor:
    """Logits whose row i predicts token i, whatever the model's convention: ``(n, vocab)``."""
    logits = model.canvas_logits(input_ids)[0]
    if model.shifted_logits:
        logits = torch.cat([logits[:1], logits[:-1]], dim=0)
    return logits
