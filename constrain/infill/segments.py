"""The input of a check: known text, known tokens and holes, validated and flattened.

A diffusion canvas is a row of positions, each either decoded (a token id) or still
masked. The checker sees it as a sequence of *segments*: known bytes, known token ids
(turned into their bytes here) and :class:`Hole` objects standing for the unknown parts.
Everything is validated up front, so a mistake in the caller's loop shows up as one clear
:class:`InfillError` naming the offending item instead of a failure deep inside the search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from constrain.errors import InfillError
from constrain.vocabulary import Vocabulary


@dataclass(frozen=True)
class Hole:
    """Unknown text: any bytes (``Hole()``), exactly ``tokens`` vocabulary tokens, or at most ``max_tokens``.

    Bounded holes count non-empty, non-EOS tokens of the checker's vocabulary: ``Hole(tokens=k)``
    is an interior run of ``k`` masked canvas positions, ``Hole(max_tokens=k)`` the trailing
    region where EOS or padding may stand.
    """

    tokens: int | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.tokens is not None and self.max_tokens is not None:
            raise InfillError(
                f"Hole(tokens={self.tokens!r}, max_tokens={self.max_tokens!r}): give at most one of "
                "tokens (exactly k tokens) and max_tokens (at most k tokens)"
            )
        for name, value in (("tokens", self.tokens), ("max_tokens", self.max_tokens)):
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool):
                raise InfillError(f"Hole({name}=...) must be an int, got {type(value).__name__} {value!r}")
            if value < 0:
                raise InfillError(f"Hole({name}={value}) must be >= 0")

    @property
    def is_bounded(self) -> bool:
        return self.tokens is not None or self.max_tokens is not None

    @property
    def bound(self) -> int:
        """The number of token slots of a bounded hole."""
        return self.tokens if self.tokens is not None else self.max_tokens  # type: ignore[return-value]

    @property
    def exact(self) -> bool:
        """Whether every slot must hold a token (``tokens=k``) rather than possibly none."""
        return self.tokens is not None


Piece = bytes | Hole


def flatten_segments(segments: object, vocab: Vocabulary) -> list[Piece]:
    """The segments as alternating known bytes and holes; raises InfillError on bad items.

    Consecutive known items are concatenated (a token may continue the text before it);
    empty known text disappears. Holes are kept in order, adjacent ones too.
    """
    if isinstance(segments, bytes | bytearray | memoryview | str) or not isinstance(segments, Sequence):
        raise InfillError(
            "segments must be a list of items (bytes, a list of token ids, or Hole()), got "
            f"{type(segments).__name__}; wrap known text as [b'...']"
        )
    pieces: list[Piece] = []
    for index, item in enumerate(segments):
        if isinstance(item, Hole):
            pieces.append(item)
            continue
        data = _known_bytes(item, index, vocab)
        if not data:
            continue
        if pieces and isinstance(pieces[-1], bytes):
            pieces[-1] += data
        else:
            pieces.append(data)
    return pieces


def _known_bytes(item: object, index: int, vocab: Vocabulary) -> bytes:
    if isinstance(item, bytes | bytearray):
        return bytes(item)
    if isinstance(item, list | tuple):
        return b"".join(_token_bytes(token, index, vocab) for token in item)
    hint = "; encode text with .encode('utf-8')" if isinstance(item, str) else ""
    raise InfillError(
        f"segment {index} is a {type(item).__name__}: expected bytes, a list of token ids or a Hole{hint}"
    )


def _token_bytes(token: object, index: int, vocab: Vocabulary) -> bytes:
    if not isinstance(token, int | np.integer) or isinstance(token, bool):
        raise InfillError(f"segment {index}: token ids must be ints, got {type(token).__name__} {token!r}")
    token = int(token)
    if not 0 <= token < vocab.size:
        raise InfillError(f"segment {index}: token id {token} is out of range 0..{vocab.size - 1}")
    data = vocab.token_bytes[token]
    if not data:
        kind = "an EOS token" if token in vocab.eos_token_ids else "a special token without text"
        raise InfillError(f"segment {index}: token id {token} is {kind}; strip it before checking")
    return data
