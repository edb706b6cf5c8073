"""Thin adapters from Hugging Face masked-diffusion models to :class:`MaskedDiffusionModel`.

Both wrap any object whose ``forward(input_ids)`` returns logits (a tensor, or an output with
``.logits``), so they work with the real checkpoints and with small stand-ins alike.

Running with the real 7-8B models needs a GPU with about 16 GB (bf16) and ``trust_remote_code``
because their modelling code lives in the model repositories::

    import torch
    from transformers import AutoModel, AutoTokenizer
    import constrain
    from constrain.diffusion import LLaDAAdapter, generate

    name = "GSAI-ML/LLaDA-8B-Instruct"                       # mask token id 126336
    tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=True)
    hf_model = AutoModel.from_pretrained(name, trust_remote_code=True, torch_dtype=torch.bfloat16)
    model = LLaDAAdapter(hf_model.cuda().eval())
    # LLaDA pads its answers with <|endoftext|> (126081) after <|eot_id|> (126348): both end the text.
    vocab = constrain.Vocabulary.from_tokenizer(
        tokenizer, vocab_size=hf_model.config.vocab_size, eos_token_ids=[126081, 126348]
    )
    grammar = constrain.compile_grammar(constrain.load_grammar("json"), vocab)
    result = generate(model, tokenizer, "A JSON object about Ada Lovelace", grammar,
                      length=128, steps=64, block_length=32)
    print(result.text)

For Dream use ``name = "Dream-org/Dream-v0-Instruct-7B"``, ``DreamAdapter(hf_model)`` (mask
token id 151666, shifted logits) and ``eos_token_ids=[151643, 151645]`` (``<|endoftext|>``, the
padding, and ``<|im_end|>``). Check the ids against the model's ``generation_config.json`` if a
newer revision changes them.
"""

from __future__ import annotations

from typing import Any

import torch

from constrain.errors import ConstrainError

__all__ = ["DREAM_MASK_TOKEN_ID", "LLADA_MASK_TOKEN_ID", "DreamAdapter", "LLaDAAdapter"]

LLADA_MASK_TOKEN_ID = 126336
DREAM_MASK_TOKEN_ID = 151666


class _ForwardAdapter:
    """Calls ``model(input_ids)`` and returns the logits tensor, whatever the output type."""

    shifted_logits: bool

    def __init__(self, model: Any, mask_token_id: int):
        if not callable(model):
            raise ConstrainError(f"expected a model with forward(input_ids), got {type(model).__name__}")
        if isinstance(mask_token_id, bool) or not isinstance(mask_token_id, int) or mask_token_id < 0:
            raise ConstrainError(f"mask_token_id must be a non-negative int, got {mask_token_id!r}")
        self.model = model
        self.mask_token_id = mask_token_id

    def canvas_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        device = _device_of(self.model)
        with torch.inference_mode():
            output = self.model(input_ids.to(device) if device is not None else input_ids)
        logits = output if isinstance(output, torch.Tensor) else getattr(output, "logits", None)
        if not isinstance(logits, torch.Tensor) or logits.ndim != 3 or logits.shape[:2] != input_ids.shape:
            raise ConstrainError(
                f"{type(self.model).__name__}(input_ids) must give logits of shape (batch, length, vocab) "
                f"for input of shape {tuple(input_ids.shape)}"
            )
        return logits.float()


class LLaDAAdapter(_ForwardAdapter):
    """LLaDA-style model: logits at position i predict token i."""

    shifted_logits = False

    def __init__(self, model: Any, mask_token_id: int = LLADA_MASK_TOKEN_ID):
        super().__init__(model, mask_token_id)


class DreamAdapter(_ForwardAdapter):
    """Dream-style model: logits at position i predict token i + 1 (shifted, as in AR training)."""

    shifted_logits = True

    def __init__(self, model: Any, mask_token_id: int = DREAM_MASK_TOKEN_ID):
        super().__init__(model, mask_token_id)


def _device_of(model: Any) -> torch.device | None:
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return device
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        first = next(iter(parameters()), None)
        if first is not None:
            return first.device
    return None
