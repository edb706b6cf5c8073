"""Fast-forward: append the bytes the grammar forces as tokens, without sampling them.

Why: where the grammar leaves no choice (``{"name": ``, the rest of a keyword, a closing
quote), sampling is wasted work, and a full mask step is the most expensive kind. The
matcher reports the forced bytes; this module turns them into tokens that can be committed.

Which tokens: the tokenizer's own (canonical) encoding of the forced bytes, because that is
the tokenization the model was trained on. Its tail is not safe, though. A vocabulary token
may start inside the forced bytes and run past their end (``":`` then ``":"`` or ``": "``),
so the canonical tokenization of the final text can differ from that of the forced bytes
alone. As llguidance does, the tokens are cut back before the first byte offset from which
some vocabulary token strictly extends the rest of the forced bytes; that tail is left to the
sampler. Every committed token is checked with the matcher, so fast-forward never changes
the language, only which of its tokenizations are produced.

A forced token is not free for weighting: the SMC target is the model's distribution over
token sequences, so a particle's weight still multiplies in the model's probability of each
forced token (see :mod:`constrain.sampling.smc`).
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from constrain.matcher import Matcher
from constrain.vocabulary import Vocabulary

__all__ = ["ForcedTokens", "Tokenize"]

Tokenize = Callable[[bytes], Sequence[int]]
_MAX_CACHED_RUNS = 4096
_DEFAULT_INSTANCES: weakref.WeakKeyDictionary[Vocabulary, ForcedTokens] = weakref.WeakKeyDictionary()


class ForcedTokens:
    """Commits a matcher's forced bytes as stable canonical tokens; one instance per vocabulary.

    ``tokenize`` maps bytes to token ids; by default the vocabulary's tokenizer is used (on
    the longest valid UTF-8 prefix), or greedy longest-match over the token bytes when the
    vocabulary has no tokenizer (explicit test vocabularies). An encoding whose token bytes do
    not spell the input exactly (a tokenizer that adds a prefix space, say) commits nothing.
    """

    def __init__(self, vocab: Vocabulary, tokenize: Tokenize | None = None):
        # The token bytes, not the vocabulary: the per-vocabulary cache must not keep it alive.
        self._token_bytes = vocab.token_bytes
        self._tokenize = tokenize or _default_tokenize(vocab)
        self._sorted_tokens = sorted({data for data in vocab.token_bytes if data})
        self._max_token_length = max(len(data) for data in self._sorted_tokens)
        self._stable: dict[bytes, tuple[int, ...]] = {}

    @classmethod
    def for_vocabulary(cls, vocab: Vocabulary) -> ForcedTokens:
        """The shared default instance for ``vocab``: building one sorts the vocabulary (~0.1 s)."""
        instance = _DEFAULT_INSTANCES.get(vocab)
        if instance is None:
            instance = cls(vocab)
            _DEFAULT_INSTANCES[vocab] = instance
        return instance

    def advance(self, matcher: Matcher, limit: int) -> list[int]:
        """Advance ``matcher`` through at most ``limit`` forced tokens and return them.

        Stops early at a token the matcher refuses (then nothing past it is committed).
        """
        if limit <= 0 or matcher.is_terminated():
            return []
        forced = matcher.forced_bytes()
        if not forced:
            return []
        committed: list[int] = []
        for token in self.stable_tokens(forced)[:limit]:
            if not matcher.advance(token):
                break
            committed.append(token)
        return committed

    def stable_tokens(self, forced: bytes) -> tuple[int, ...]:
        """The canonical tokens of ``forced`` that no continuation could re-tokenize."""
        stable = self._stable.get(forced)
        if stable is None:
            if len(self._stable) >= _MAX_CACHED_RUNS:
                self._stable.clear()
            stable = self._compute_stable(forced)
            self._stable[forced] = stable
        return stable

    def _compute_stable(self, forced: bytes) -> tuple[int, ...]:
        ids = [int(token) for token in self._tokenize(forced)]
        pieces = [self._token_bytes[token] if 0 <= token < len(self._token_bytes) else b"" for token in ids]
        spelled = b"".join(pieces)
        if not all(pieces) or not forced.startswith(spelled) or not spelled:
            return ()
        cut = self._first_spanning_offset(spelled)
        stable: list[int] = []
        end = 0
        for token, piece in zip(ids, pieces, strict=True):
            end += len(piece)
            if end > cut:
                break
            stable.append(token)
        return tuple(stable)

    def _first_spanning_offset(self, data: bytes) -> int:
        """The smallest offset from which a vocabulary token strictly extends ``data``'s tail."""
        for offset in range(max(0, len(data) - self._max_token_length + 1), len(data)):
            if self._strictly_extended(data[offset:]):
                return offset
        return len(data)

    def _strictly_extended(self, tail: bytes) -> bool:
        """Whether some token's bytes start with ``tail`` and are longer (binary search)."""
        index = bisect.bisect_right(self._sorted_tokens, tail)
        return index < len(self._sorted_tokens) and self._sorted_tokens[index].startswith(tail)


def _default_tokenize(vocab: Vocabulary) -> Tokenize:
    if vocab.tokenizer is None:
        return _longest_match(vocab)
    tokenizer = vocab.tokenizer

    def encode(data: bytes) -> list[int]:
        text = _valid_utf8_prefix(data)
        return _ids_of(tokenizer.encode(text, add_special_tokens=False)) if text else []

    return encode


def _ids_of(encoded: Any) -> list[int]:
    """Token ids from a transformers encode (a list) or a ``tokenizers`` Encoding (``.ids``)."""
    return list(getattr(encoded, "ids", encoded))


def _valid_utf8_prefix(data: bytes) -> str:
    """The longest prefix of ``data`` that is valid UTF-8, decoded (a forced run may end mid-character)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        return data[: error.start].decode("utf-8")


def _longest_match(vocab: Vocabulary) -> Tokenize:
    """Greedy longest-match tokenization over the vocabulary's token bytes (lowest id on ties)."""
    by_bytes: dict[bytes, int] = {}
    for token, data in enumerate(vocab.token_bytes):
        if data:
            by_bytes.setdefault(data, token)
    longest = max(len(data) for data in by_bytes)

    def tokenize(data: bytes) -> list[int]:
        ids: list[int] = []
        position = 0
        while position < len(data):
            for length in range(min(longest, len(data) - position), 0, -1):
                token = by_bytes.get(data[position : position + length])
                if token is not None:
                    ids.append(token)
                    position += length
                    break
            else:
                break
        return ids

    return tokenize
