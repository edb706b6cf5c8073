"""The vocabulary as masks see it: the exact bytes each token id adds to the text.

Grammars constrain *bytes*, tokenizers speak in token strings whose encoding depends on the
tokenizer family (GPT-2's byte-to-unicode alphabet, sentencepiece's ``▁`` and ``<0xNN>``
pieces). This module turns a tokenizer into one ``bytes`` per id and a :class:`TokenTrie`
over them, refusing any tokenizer whose bytes it cannot recover exactly: a wrong byte would
silently allow text the grammar forbids.

Recovering the bytes of a 150k vocabulary and building its trie takes a few tenths of a second
per process, so the result is cached on disk under a key hashed from the tokenizer's raw token
strings (hashing them is much cheaper than decoding them).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from constrain.cache import cache_dir, load_arrays, save_arrays
from constrain.errors import VocabularyError
from constrain.token_trie import TokenTrie

_CACHE_FORMAT = "constrain-vocabulary-1"
_TRIE_FIELDS = ("node_byte", "node_depth", "subtree_end", "token_start", "token_ids", "token_node")

# What a token id stands for, before decoding.
_NON_TEXT = 0  # special/control tokens, unused ids: never part of the text
_PIECE = 1  # a model token string, decoded by the tokenizer's scheme
_LITERAL = 2  # a non-special added token: its content is the text itself

_BYTE_PIECE = re.compile(r"<0x[0-9A-Fa-f]{2}>")
_SUPPORTED = (
    "supported are byte-level BPE (a ByteLevel decoder or pre-tokenizer, or a slow tokenizer with "
    "byte_encoder: GPT-2, Llama-3, Qwen) and sentencepiece-style pieces (a Metaspace decoder or "
    "Replace('▁', ' ') with optional ByteFallback/Fuse/Strip, or a slow tokenizer with sp_model: "
    "Llama-2, Mistral)"
)


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Token bytes, EOS ids and trie of a model's vocabulary; build it with the classmethods.

    ``size`` is the number of ids masks cover (the model's padded vocabulary size when given);
    ids past the tokenizer's length, special tokens and EOS ids have empty ``token_bytes``:
    they are never text, and only the EOS ids are ever allowed, at the end.
    """

    size: int
    eos_token_ids: frozenset[int]
    eos_token_id: int
    token_bytes: tuple[bytes, ...] = field(repr=False)
    trie: TokenTrie = field(repr=False)
    fingerprint: str
    tokenizer: object | None = field(default=None, repr=False)

    def allocate_bitmask(self, batch: int | None = None) -> np.ndarray:
        """Zeroed int32 mask words, bit ``i % 32`` of word ``i // 32`` standing for token ``i``."""
        words = (self.size + 31) // 32
        if batch is None:
            return np.zeros(words, dtype=np.int32)
        if not isinstance(batch, int | np.integer) or isinstance(batch, bool) or batch < 0:
            raise VocabularyError(f"batch must be a non-negative int or None, got {batch!r}")
        return np.zeros((int(batch), words), dtype=np.int32)

    @classmethod
    def from_token_bytes(
        cls, tokens: Sequence[bytes], eos_token_ids: Iterable[int], vocab_size: int | None = None
    ) -> Vocabulary:
        """A vocabulary from explicit token bytes (index = id); ``b""`` marks non-text ids."""
        token_bytes = []
        for token_id, data in enumerate(tokens):
            if not isinstance(data, bytes | bytearray | memoryview):
                raise VocabularyError(f"token {token_id} is a {type(data).__name__}, expected bytes")
            token_bytes.append(bytes(data))
        eos_ids = _checked_eos_ids(eos_token_ids, len(token_bytes))
        if not eos_ids:
            raise VocabularyError("eos_token_ids is empty: a vocabulary needs at least one EOS id")
        size = _checked_size(vocab_size, len(token_bytes))
        final_bytes = _final_token_bytes(token_bytes, eos_ids, size)
        return _assemble(cls, final_bytes, eos_ids, min(eos_ids), TokenTrie.build(final_bytes), None)

    @classmethod
    def from_tokenizer(
        cls, tok: Any, vocab_size: int | None = None, eos_token_ids: Iterable[int] | None = None
    ) -> Vocabulary:
        """The vocabulary of a transformers tokenizer (fast or slow) or a ``tokenizers.Tokenizer``.

        ``eos_token_ids`` adds end-of-sequence ids to the tokenizer's own (instruct models end
        turns with tokens such as ``<|eot_id|>``); it is required when the tokenizer has none.
        The result is cached on disk (see :func:`constrain.cache.cache_dir`).
        """
        raw = _read_raw_vocabulary(tok)
        length = len(raw.pieces)
        size = _checked_size(vocab_size, length)
        given = _checked_eos_ids(() if eos_token_ids is None else eos_token_ids, length)
        if raw.eos_token_id is None and not given:
            raise VocabularyError(
                f"cannot tell the EOS token of this {type(tok).__name__}: it has none; pass "
                "eos_token_ids=[...] to Vocabulary.from_tokenizer"
            )
        first_eos = raw.eos_token_id if raw.eos_token_id is not None else min(given)
        eos_ids = given | {first_eos}
        key = _cache_key(raw, eos_ids, size)
        cached = _load_cached(key, size)
        if cached is not None:
            token_bytes, trie = cached
        else:
            token_bytes = _final_token_bytes(_decode_pieces(raw), eos_ids, size)
            trie = TokenTrie.build(token_bytes)
            _store_cached(key, token_bytes, trie)
        return _assemble(cls, token_bytes, eos_ids, first_eos, trie, tok)


def _assemble(
    cls: type[Vocabulary],
    token_bytes: Sequence[bytes],
    eos_ids: frozenset[int],
    first_eos: int,
    trie: TokenTrie,
    tok: object,
) -> Vocabulary:
    if trie.token_ids.shape[0] == 0:
        raise VocabularyError(
            f"the vocabulary has no text tokens: all {len(token_bytes)} ids are special, EOS or empty"
        )
    blob, offsets = _pack(token_bytes)
    return cls(
        size=len(token_bytes),
        eos_token_ids=eos_ids,
        eos_token_id=first_eos,
        token_bytes=tuple(token_bytes),
        trie=trie,
        fingerprint=_fingerprint(blob, offsets, eos_ids),
        tokenizer=tok,
    )


def _checked_size(vocab_size: int | None, length: int) -> int:
    if vocab_size is None:
        return length
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int | np.integer):
        raise VocabularyError(f"vocab_size must be an int, got {vocab_size!r}")
    size = int(vocab_size)
    if size < length:
        raise VocabularyError(f"vocab_size {size} is smaller than the tokenizer's {length} token ids")
    return size


def _checked_eos_ids(eos_token_ids: Iterable[int], length: int) -> frozenset[int]:
    ids = set()
    for eos in eos_token_ids:
        if isinstance(eos, bool) or not isinstance(eos, int | np.integer):
            raise VocabularyError(f"EOS ids must be ints, got {eos!r}")
        if not 0 <= eos < length:
            raise VocabularyError(f"EOS id {eos} is outside the tokenizer's ids 0..{length - 1}")
        ids.add(int(eos))
    return frozenset(ids)


def _final_token_bytes(token_bytes: Sequence[bytes], eos_ids: frozenset[int], size: int) -> list[bytes]:
    """Token bytes padded to ``size``, with EOS ids blanked (they end the text, never extend it)."""
    final = list(token_bytes) + [b""] * (size - len(token_bytes))
    for eos in eos_ids:
        final[eos] = b""
    return final


def _pack(token_bytes: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """All token bytes concatenated, and the offsets (``size + 1``) where each one starts."""
    lengths = np.fromiter(map(len, token_bytes), dtype=np.int64, count=len(token_bytes))
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    return np.frombuffer(b"".join(token_bytes), dtype=np.uint8), offsets


def _unpack(blob: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    data = blob.tobytes()
    bounds = offsets.tolist()
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


def _fingerprint(blob: np.ndarray, offsets: np.ndarray, eos_ids: frozenset[int]) -> str:
    digest = hashlib.sha256(b"constrain-vocabulary-content-1")
    digest.update(np.array(sorted(eos_ids), dtype=np.int64).tobytes())
    digest.update(offsets.astype(np.int64).tobytes())
    digest.update(blob.tobytes())
    return digest.hexdigest()


# --- reading a tokenizer -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Decoding:
    """How model token strings map to bytes: GPT-2's byte alphabet or sentencepiece pieces."""

    scheme: Literal["byte-level", "metaspace"]
    replacement: str = "▁"
    byte_fallback: bool = False


@dataclass(frozen=True)
class _RawVocabulary:
    """A tokenizer's token strings by id, with what each stands for, before any decoding."""

    decoding: _Decoding
    pieces: list[str]
    kinds: np.ndarray  # uint8 per id: _NON_TEXT, _PIECE or _LITERAL
    eos_token_id: int | None


def _read_raw_vocabulary(tok: Any) -> _RawVocabulary:
    import tokenizers

    if isinstance(tok, tokenizers.Tokenizer):
        added = tok.get_added_tokens_decoder()
        return _from_backend(tok, added, (), tok.get_vocab_size(with_added_tokens=True), None)
    backend = getattr(tok, "backend_tokenizer", None)
    if isinstance(backend, tokenizers.Tokenizer):
        return _from_backend(
            backend, tok.added_tokens_decoder, tok.all_special_ids, len(tok), tok.eos_token_id
        )
    if hasattr(tok, "byte_encoder") and hasattr(tok, "get_vocab"):
        return _from_slow_byte_level(tok)
    if hasattr(tok, "sp_model"):
        return _from_slow_sentencepiece(tok)
    raise VocabularyError(
        f"cannot read the token bytes of a {type(tok).__module__}.{type(tok).__name__}: expected a "
        f"tokenizers.Tokenizer or a transformers tokenizer; {_SUPPORTED}"
    )


def _from_backend(
    backend: Any, added: Mapping[int, Any], special_ids: Iterable[int], length: int, eos: int | None
) -> _RawVocabulary:
    decoding = _detect_decoding(backend)
    model_vocab = backend.get_vocab(with_added_tokens=False)
    return _raw_vocabulary(decoding, model_vocab, added, special_ids, length, eos)


def _from_slow_byte_level(tok: Any) -> _RawVocabulary:
    expected = {byte: char for char, byte in _byte_level_alphabet().items()}
    if dict(tok.byte_encoder) != expected:
        raise VocabularyError(
            f"{type(tok).__name__} has a byte_encoder that differs from GPT-2's byte-to-unicode table"
        )
    return _raw_vocabulary(
        _Decoding("byte-level"),
        tok.get_vocab(),
        tok.added_tokens_decoder,
        tok.all_special_ids,
        len(tok),
        tok.eos_token_id,
    )


def _from_slow_sentencepiece(tok: Any) -> _RawVocabulary:
    model = tok.sp_model
    piece_ids = range(model.get_piece_size())
    vocab = {
        model.id_to_piece(i): i
        for i in piece_ids
        if not (model.is_control(i) or model.is_unknown(i) or model.is_unused(i))
    }
    decoding = _Decoding("metaspace", byte_fallback=any(model.is_byte(i) for i in piece_ids))
    length = max(len(tok), model.get_piece_size())
    return _raw_vocabulary(
        decoding, vocab, tok.added_tokens_decoder, tok.all_special_ids, length, tok.eos_token_id
    )


def _raw_vocabulary(
    decoding: _Decoding,
    model_vocab: Mapping[str, int],
    added: Mapping[int, Any],
    special_ids: Iterable[int],
    length: int,
    eos: int | None,
) -> _RawVocabulary:
    """Token strings by id: model pieces first, then added tokens (special ones are non-text)."""
    length = max([length, *(i + 1 for i in model_vocab.values()), *(i + 1 for i in added)])
    pieces = [""] * length
    kinds = np.full(length, _NON_TEXT, dtype=np.uint8)
    for piece, token_id in model_vocab.items():
        pieces[token_id] = piece
    kinds[np.fromiter(model_vocab.values(), dtype=np.int64, count=len(model_vocab))] = _PIECE
    for token_id, token in added.items():
        pieces[token_id] = token.content
        kinds[token_id] = _NON_TEXT if token.special else _LITERAL
    for token_id in special_ids:
        kinds[token_id] = _NON_TEXT
    return _RawVocabulary(decoding, pieces, kinds, eos)


def _component_json(component: Any) -> dict[str, Any] | None:
    """The JSON of one pipeline part, as in ``Tokenizer.to_str()`` but without the vocabulary."""
    return None if component is None else json.loads(component.__getstate__())


def _steps(config: dict[str, Any] | None) -> list[dict[str, Any]]:
    if config is None:
        return []
    if config.get("type") == "Sequence":
        members = config.get("decoders") or config.get("pretokenizers") or []
        return [step for member in members for step in _steps(member)]
    return [config]


def _detect_decoding(backend: Any) -> _Decoding:
    """The byte scheme, read from the decoder (or, without decoder, the pre-tokenizer)."""
    decoder_steps = _steps(_component_json(backend.decoder))
    types = [step.get("type") for step in decoder_steps]
    if types and all(kind == "ByteLevel" for kind in types):
        return _Decoding("byte-level")
    if not types and any(
        s.get("type") == "ByteLevel" for s in _steps(_component_json(backend.pre_tokenizer))
    ):
        return _Decoding("byte-level")
    replacements = set()
    understood = True
    for step in decoder_steps:
        kind = step.get("type")
        if kind == "Metaspace":
            replacements.add(step.get("replacement"))
        elif kind == "Replace" and step.get("content") == " " and "String" in step.get("pattern", {}):
            replacements.add(step["pattern"]["String"])
        elif kind == "Strip":
            understood &= step.get("content") == " " and step.get("start", 0) <= 1 and step.get("stop") == 0
        else:
            understood &= kind in ("ByteFallback", "Fuse")
    if understood and len(replacements) == 1:
        return _Decoding("metaspace", replacements.pop(), byte_fallback="ByteFallback" in types)
    model = type(backend.model).__name__
    raise VocabularyError(
        f"cannot recover token bytes of a {model} tokenizer with decoder {types or None}: {_SUPPORTED}"
    )


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-to-unicode table, reversed: character -> byte.

    Printable Latin-1 bytes stand for themselves; the 68 others (controls, space, soft
    hyphen...) are given the characters from U+0100 on, in byte order, so that every byte
    has a visible, non-whitespace character.
    """
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    char_of_byte = {byte: chr(byte) for byte in printable}
    shifted = (byte for byte in range(256) if byte not in char_of_byte)
    char_of_byte.update({byte: chr(0x100 + rank) for rank, byte in enumerate(shifted)})
    return {char: byte for byte, char in char_of_byte.items()}


def _decode_pieces(raw: _RawVocabulary) -> list[bytes]:
    """The bytes of every id of ``raw``, or VocabularyError if some piece has no exact bytes."""
    token_bytes = [b""] * len(raw.pieces)
    piece_ids = np.flatnonzero(raw.kinds == _PIECE).tolist()
    if raw.decoding.scheme == "byte-level":
        decoded = _decode_byte_level([raw.pieces[i] for i in piece_ids], piece_ids)
    else:
        decoded = [_decode_metaspace(raw.pieces[i], raw.decoding) for i in piece_ids]
    for token_id, data in zip(piece_ids, decoded, strict=True):
        token_bytes[token_id] = data
    for token_id in np.flatnonzero(raw.kinds == _LITERAL).tolist():
        token_bytes[token_id] = raw.pieces[token_id].encode("utf-8")
    return token_bytes


def _decode_byte_level(pieces: list[str], ids: list[int]) -> list[bytes]:
    alphabet = _byte_level_alphabet()
    strangers = set("".join(pieces)) - alphabet.keys()
    if strangers:
        token_id, piece = next((i, p) for i, p in zip(ids, pieces, strict=True) if strangers & set(p))
        raise VocabularyError(
            f"token {token_id} {piece!r} has characters {sorted(strangers & set(piece))} outside the "
            "byte-level alphabet of its ByteLevel decoder, so its bytes cannot be recovered"
        )
    to_latin1 = str.maketrans({char: chr(byte) for char, byte in alphabet.items()})
    return [piece.translate(to_latin1).encode("latin-1") for piece in pieces]


def _decode_metaspace(piece: str, decoding: _Decoding) -> bytes:
    if decoding.byte_fallback and _BYTE_PIECE.fullmatch(piece):
        return bytes([int(piece[3:5], 16)])
    return piece.replace(decoding.replacement, " ").encode("utf-8")


# --- on-disk cache -------------------------------------------------------------------------------


def _cache_key(raw: _RawVocabulary, eos_ids: frozenset[int], size: int) -> str:
    """Hash of everything the token bytes and trie depend on, cheap to compute from the raw strings."""
    digest = hashlib.sha256(_CACHE_FORMAT.encode())
    digest.update(repr((raw.decoding, sorted(eos_ids), size)).encode())
    digest.update(raw.kinds.tobytes())
    digest.update(np.fromiter(map(len, raw.pieces), dtype=np.int64, count=len(raw.pieces)).tobytes())
    digest.update("".join(raw.pieces).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _cache_path(key: str) -> Path:
    return cache_dir() / "vocabulary" / f"{key}.npz"


def _load_cached(key: str, size: int) -> tuple[list[bytes], TokenTrie] | None:
    try:
        arrays = load_arrays(_cache_path(key))
    except OSError:  # no usable cache directory: build without cache
        return None
    if arrays is None or any(name not in arrays for name in ("blob", "offsets", *_TRIE_FIELDS)):
        return None
    offsets = arrays["offsets"]
    if offsets.shape != (size + 1,) or arrays["token_node"].shape != (size,):
        return None
    trie = TokenTrie(**{name: arrays[name] for name in _TRIE_FIELDS})
    return _unpack(arrays["blob"], offsets), trie


def _store_cached(key: str, token_bytes: Sequence[bytes], trie: TokenTrie) -> None:
    """Save for the next process; a cache that cannot be written only costs time, so it warns."""
    blob, offsets = _pack(token_bytes)
    trie_arrays = {name: getattr(trie, name) for name in _TRIE_FIELDS}
    try:
        save_arrays(_cache_path(key), {"blob": blob, "offsets": offsets, **trie_arrays})
    except OSError as error:
        warnings.warn(f"constrain: cannot write the vocabulary cache: {error}", RuntimeWarning, stacklevel=3)
