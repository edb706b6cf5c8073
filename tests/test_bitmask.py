"""apply_bitmask and allowed_token_ids against a per-token reference, on CPU and (if present) CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import constrain
from constrain.bitmask import allowed_token_ids, apply_bitmask
from constrain.errors import MatcherError


def _random_mask(rng: np.random.Generator, shape: tuple[int, ...], covered: int) -> np.ndarray:
    """Random int32 words with only the bits of ids < ``covered`` possibly set."""
    words = shape[-1]
    bits = rng.random((*shape[:-1], words * 32)) < 0.4
    bits[..., covered:] = False
    return np.packbits(bits, axis=-1, bitorder="little").view(np.int32).reshape(shape)


def _reference(logits: torch.Tensor, mask: np.ndarray) -> torch.Tensor:
    """Per-token loop: token t is kept iff bit t % 32 of word t // 32 is set (and t is covered)."""
    expected = logits.clone()
    rows = expected if expected.ndim == 2 else expected.unsqueeze(0)
    masks = np.broadcast_to(mask, (rows.shape[0], mask.shape[-1]))
    for row, words in zip(rows, masks, strict=True):
        for token in range(row.shape[0]):
            word = token // 32
            if word >= len(words) or not (int(words[word]) >> (token % 32)) & 1:
                row[token] = float("-inf")
    return expected


CASES = [
    # (logits shape, mask shape, tokens the mask may allow)
    ((70,), (3,), 70),  # mask wider than V, bits only below V
    ((64,), (2,), 64),  # exact fit
    ((100,), (2,), 64),  # padded model vocabulary: ids 64..99 must be disallowed
    ((4, 70), (4, 3), 70),  # batched
    ((3, 100), (3, 2), 64),  # batched and padded
    ((5, 40), (2,), 40),  # one mask applied to every row
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("logits_shape", "mask_shape", "covered"), CASES)
def test_apply_bitmask_matches_reference_on_cpu(dtype, logits_shape, mask_shape, covered):
    _check_against_reference(torch.device("cpu"), dtype, logits_shape, mask_shape, covered)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("logits_shape", "mask_shape", "covered"), CASES)
def test_apply_bitmask_matches_reference_on_cuda(dtype, logits_shape, mask_shape, covered):
    for _ in range(3):  # reuses the pinned upload buffers
        _check_against_reference(torch.device("cuda"), dtype, logits_shape, mask_shape, covered)


def _check_against_reference(device, dtype, logits_shape, mask_shape, covered):
    rng = np.random.default_rng(7)
    mask = _random_mask(rng, mask_shape, covered)
    logits = torch.from_numpy(rng.normal(size=logits_shape).astype(np.float32)).to(dtype)
    expected = _reference(logits, mask)
    on_device = logits.to(device)
    apply_bitmask(on_device, mask)
    assert on_device.dtype == dtype
    assert torch.equal(on_device.cpu(), expected)


def test_sign_bit_words_and_torch_masks():
    """Bit 31 makes an int32 word negative; tensors work as masks like arrays do."""
    mask = np.array([-(2**31), 1], dtype=np.int32)  # tokens 31 and 32
    logits = torch.zeros(40)
    apply_bitmask(logits, torch.from_numpy(mask))
    assert torch.isfinite(logits).nonzero().flatten().tolist() == [31, 32]


def test_allowed_token_ids():
    rng = np.random.default_rng(3)
    mask = _random_mask(rng, (4,), 100)
    bits = [t for t in range(128) if (int(mask[t // 32]) >> (t % 32)) & 1]
    assert allowed_token_ids(mask, 100).tolist() == [t for t in bits if t < 100]
    assert allowed_token_ids(mask, 50).tolist() == [t for t in bits if t < 50]


def test_matcher_mask_keeps_exactly_the_allowed_tokens():
    vocab = constrain.Vocabulary.from_token_bytes([b"", b"a", b"b", b"ab", b"c"], eos_token_ids=[0])
    matcher = constrain.compile_regex("ab?", vocab).matcher()
    mask = vocab.allocate_bitmask()
    matcher.fill_bitmask(mask)
    logits = torch.zeros(8)  # model vocabulary padded from 5 to 8
    apply_bitmask(logits, mask)
    assert torch.isfinite(logits).nonzero().flatten().tolist() == [1, 3]


@pytest.mark.parametrize(
    ("logits", "mask", "message"),
    [
        (torch.zeros(40), np.array([0, 1 << 8], dtype=np.int32), "beyond"),  # token 40 allowed
        (torch.zeros(40), np.zeros(2, dtype=np.int64), "int32"),
        (torch.zeros(40), torch.zeros(2, dtype=torch.int64), "int32"),
        (torch.zeros(3, 40), np.zeros((2, 2), dtype=np.int32), "rows"),
        (torch.zeros(40), np.zeros((1, 2), dtype=np.int32), "does not fit"),
        (torch.zeros(40, dtype=torch.int64), np.zeros(2, dtype=np.int32), "floating"),
        (torch.zeros(2, 2, 40), np.zeros(2, dtype=np.int32), r"\(V,\)"),
    ],
)
def test_bad_inputs_raise_matcher_error(logits, mask, message):
    with pytest.raises(MatcherError, match=message):
        apply_bitmask(logits, mask)


def test_bits_below_vocab_in_the_last_word_are_fine():
    logits = torch.zeros(40)
    apply_bitmask(logits, np.array([0, 1 << 7], dtype=np.int32))  # token 39, the last one
    assert torch.isfinite(logits).nonzero().flatten().tolist() == [39]
