"""A tiny masked-diffusion transformer over bytes, small enough to train on a CPU in minutes.

It is the denoiser of LLaDA in miniature: a bidirectional transformer encoder that sees a
canvas in which some positions hold the mask token and predicts, at every position, the
token that belongs there (logits at position i predict token i). It is time-agnostic: the
mask ratio is not an input, the model reads it off the canvas. ``examples/train_tiny_diffusion.py``
trains it on JSON documents and arithmetic expressions and ships the checkpoint loaded by
:func:`load_tiny_model`, so the decoding loop can be exercised with a real (if small) model.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from constrain.diffusion.adapters import LLaDAAdapter
from constrain.diffusion.byte_vocabulary import BYTE_VOCAB_SIZE, MASK_TOKEN_ID
from constrain.errors import ConstrainError

__all__ = [
    "DEFAULT_CHECKPOINT",
    "TinyDiffusionConfig",
    "TinyDiffusionLM",
    "load_tiny_denoiser",
    "load_tiny_model",
    "save_tiny_model",
]

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "tiny_diffusion.pt"
_FORMAT = "constrain-tiny-diffusion-1"


@dataclass(frozen=True)
class TinyDiffusionConfig:
    """Shape of the model; the defaults give about 0.85M parameters (1.7 MB in fp16)."""

    vocab_size: int = BYTE_VOCAB_SIZE
    max_length: int = 256
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_feedforward: int = 384


class TinyDiffusionLM(nn.Module):
    """Bidirectional encoder: ``forward(input_ids (batch, length)) -> logits (batch, length, vocab)``."""

    def __init__(self, config: TinyDiffusionConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = nn.Embedding(config.max_length, config.d_model)
        layer = nn.TransformerEncoderLayer(
            config.d_model,
            config.n_heads,
            config.d_feedforward,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[-1]
        if length > self.config.max_length:
            raise ConstrainError(
                f"the tiny diffusion model reads at most {self.config.max_length} positions "
                f"(prompt plus canvas), got {length}"
            )
        positions = torch.arange(length, device=input_ids.device)
        hidden = self.token_embedding(input_ids) + self.position_embedding(positions)
        return self.head(self.final_norm(self.encoder(hidden)))


def save_tiny_model(model: TinyDiffusionLM, path: str | os.PathLike[str]) -> None:
    """Write the config and fp16 weights (the tied head is stored once)."""
    weights = {name: tensor.detach().to(torch.float16) for name, tensor in model.state_dict().items()}
    weights.pop("head.weight")
    torch.save({"format": _FORMAT, "config": asdict(model.config), "weights": weights}, path)


def load_tiny_model(path: str | os.PathLike[str] | None = None) -> TinyDiffusionLM:
    """The trained tiny model (the shipped checkpoint by default), in fp32 and eval mode."""
    checkpoint_path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if not checkpoint_path.is_file():
        raise ConstrainError(
            f"no tiny diffusion checkpoint at {checkpoint_path}; train one with "
            "examples/train_tiny_diffusion.py"
        )
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != _FORMAT:
        raise ConstrainError(f"{checkpoint_path} is not a constrain tiny diffusion checkpoint")
    model = TinyDiffusionLM(TinyDiffusionConfig(**checkpoint["config"]))
    weights = {name: tensor.float() for name, tensor in checkpoint["weights"].items()}
    weights["head.weight"] = weights["token_embedding.weight"]
    model.load_state_dict(weights)
    return model.eval()


def load_tiny_denoiser(path: str | os.PathLike[str] | None = None) -> LLaDAAdapter:
    """The trained tiny model ready for :func:`constrain.diffusion.generate` (unshifted logits)."""
    return LLaDAAdapter(load_tiny_model(path), mask_token_id=MASK_TOKEN_ID)
