"""A byte-level vocabulary for small diffusion models: 256 bytes, a mask token and EOS.

Why bytes: a tiny model trained in minutes cannot afford a 50k-token embedding, and with one
token per byte every grammar compiles against the vocabulary without any tokenizer quirks.
The mask token has no bytes, so the grammar never allows it; EOS doubles as padding after
the text, as in LLaDA's fine-tuning.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from constrain.vocabulary import Vocabulary

__all__ = ["BYTE_VOCAB_SIZE", "EOS_TOKEN_ID", "MASK_TOKEN_ID", "ByteTokenizer", "byte_vocabulary"]

MASK_TOKEN_ID = 256
EOS_TOKEN_ID = 257
BYTE_VOCAB_SIZE = 258


@functools.cache
def byte_vocabulary() -> Vocabulary:
    """The :class:`Vocabulary` of ids 0..255 (one byte each), MASK_TOKEN_ID and EOS_TOKEN_ID."""
    tokens = [bytes([value]) for value in range(256)] + [b"", b""]
    return Vocabulary.from_token_bytes(tokens, eos_token_ids=[EOS_TOKEN_ID])


class ByteTokenizer:
    """Text <-> byte ids, with the small part of the transformers tokenizer API that decoding uses."""

    mask_token_id = MASK_TOKEN_ID
    eos_token_id = EOS_TOKEN_ID
    chat_template = None

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, token_ids: Iterable[int]) -> str:
        data = bytes(token for token in token_ids if 0 <= token < 256)
        return data.decode("utf-8", errors="replace")

    def __len__(self) -> int:
        return BYTE_VOCAB_SIZE
