"""Grammar-constrained decoding for masked-diffusion language models, and a tiny trained one.

``generate(model, tokenizer, prompt, grammar, length, steps)`` decodes with any model following
:class:`MaskedDiffusionModel` (``LLaDAAdapter`` and ``DreamAdapter`` wrap Hugging Face models);
``load_tiny_denoiser()`` with ``ByteTokenizer()`` and ``byte_vocabulary()`` runs offline on a CPU.
"""

from constrain.diffusion.adapters import DreamAdapter, LLaDAAdapter
from constrain.diffusion.byte_vocabulary import (
    BYTE_VOCAB_SIZE,
    EOS_TOKEN_ID,
    MASK_TOKEN_ID,
    ByteTokenizer,
    byte_vocabulary,
)
from constrain.diffusion.decoding import DiffusionResult, generate
from constrain.diffusion.protocol import MaskedDiffusionModel
from constrain.diffusion.tiny_model import (
    TinyDiffusionConfig,
    TinyDiffusionLM,
    load_tiny_denoiser,
    load_tiny_model,
)

__all__ = [
    "BYTE_VOCAB_SIZE",
    "EOS_TOKEN_ID",
    "MASK_TOKEN_ID",
    "ByteTokenizer",
    "DiffusionResult",
    "DreamAdapter",
    "LLaDAAdapter",
    "MaskedDiffusionModel",
    "TinyDiffusionConfig",
    "TinyDiffusionLM",
    "byte_vocabulary",
    "generate",
    "load_tiny_denoiser",
    "load_tiny_model",
]
