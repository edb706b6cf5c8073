"""Constrained diffusion decoding: every result is a word of the grammar, checked by independent oracles.

The models are the shipped tiny denoiser (through both the LLaDA adapter and a Dream-style
shifted wrapper), an adversarial proposer with random logits, and copy oracles that pin down
the logit alignment of each convention. Validity is judged by ``json.loads``, ``jsonschema``
and Lark's own parser, never by constrain itself.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import jsonschema
import lark
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import constrain
from constrain.diffusion import (
    EOS_TOKEN_ID,
    MASK_TOKEN_ID,
    ByteTokenizer,
    DreamAdapter,
    LLaDAAdapter,
    MaskedDiffusionModel,
    byte_vocabulary,
    generate,
    load_tiny_model,
)
from constrain.diffusion.canvas import canvas_segments, violates_padding
from constrain.infill import Hole

PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 8},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def vocab():
    return byte_vocabulary()


@pytest.fixture(scope="module")
def json_grammar(vocab):
    return constrain.compile_grammar(constrain.load_grammar("json"), vocab)


@pytest.fixture(scope="module")
def arithmetic_grammar(vocab):
    return constrain.compile_grammar(constrain.load_grammar("arithmetic"), vocab)


@pytest.fixture(scope="module")
def schema_grammar(vocab):
    return constrain.compile_json_schema(PERSON_SCHEMA, vocab)


@pytest.fixture(scope="module")
def arithmetic_parser():
    return lark.Lark(constrain.load_grammar("arithmetic"), parser="earley")


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return load_tiny_model()


class _Shifted(torch.nn.Module):
    """The tiny model turned Dream-style: the logits for token i come out at position i - 1."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        logits = self.inner(input_ids)
        return torch.cat([logits[:, 1:], logits[:, -1:]], dim=1)


class RandomLogits:
    """An adversarial proposer: logits drawn at random, blind to the canvas."""

    mask_token_id = MASK_TOKEN_ID
    shifted_logits = False

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)
        self.calls = 0

    def canvas_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return 4 * torch.randn((*input_ids.shape, 258), generator=self.generator)


class CopyOracle:
    """Knows the target response and predicts it with certainty, LLaDA-style or Dream-style."""

    mask_token_id = MASK_TOKEN_ID

    def __init__(self, prompt: bytes, target: bytes, length: int, shifted: bool):
        padded = list(prompt) + list(target) + [EOS_TOKEN_ID] * (length - len(target))
        self.target = torch.tensor(padded)
        self.shifted_logits = shifted

    def canvas_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        wanted = torch.cat([self.target[1:], self.target[-1:]]) if self.shifted_logits else self.target
        logits = torch.full((1, len(wanted), 258), -5.0)
        logits[0, torch.arange(len(wanted)), wanted] = 5.0
        return logits


def _json_models(tiny):
    return {
        "llada": LLaDAAdapter(tiny, mask_token_id=MASK_TOKEN_ID),
        "dream": DreamAdapter(_Shifted(tiny), mask_token_id=MASK_TOKEN_ID),
    }


# --- the trained tiny model -----------------------------------------------------------------


@pytest.mark.parametrize("convention", ["llada", "dream"])
@pytest.mark.parametrize("seed", SEEDS)
def test_tiny_model_json_is_valid(tiny, json_grammar, convention, seed):
    model = _json_models(tiny)[convention]
    result = generate(model, ByteTokenizer(), "JSON:", json_grammar, 40, 20, temperature=1.0, seed=seed)
    json.loads(result.text)
    assert result.steps <= 20
    assert result.n_rejected <= result.n_proposals
    assert bytes(result.token_ids).decode("utf-8", errors="replace") == result.text


@pytest.mark.parametrize("seed", SEEDS)
def test_tiny_model_schema_and_arithmetic_are_valid(
    tiny, schema_grammar, arithmetic_grammar, arithmetic_parser, seed
):
    model = LLaDAAdapter(tiny, mask_token_id=MASK_TOKEN_ID)
    person = generate(model, ByteTokenizer(), "JSON:", schema_grammar, 48, 24, temperature=1.0, seed=seed)
    jsonschema.validate(json.loads(person.text), PERSON_SCHEMA)
    expression = generate(
        model, ByteTokenizer(), "EXPR:", arithmetic_grammar, 32, 16, temperature=1.0, seed=seed
    )
    arithmetic_parser.parse(expression.text)


def test_tiny_model_greedy_semi_autoregressive_blocks(tiny, json_grammar):
    model = LLaDAAdapter(tiny, mask_token_id=MASK_TOKEN_ID)
    result = generate(model, ByteTokenizer(), "JSON:", json_grammar, 48, 24, block_length=16)
    json.loads(result.text)


# --- an adversarial proposer ------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_random_logits_always_end_in_a_word(
    json_grammar, schema_grammar, arithmetic_grammar, arithmetic_parser, seed
):
    tokenizer = ByteTokenizer()
    document = generate(
        RandomLogits(seed), tokenizer, "JSON:", json_grammar, 32, 16, temperature=1.0, seed=seed
    )
    json.loads(document.text)
    assert document.n_rejected > 0  # random logits propose plenty of invalid tokens
    person = generate(RandomLogits(seed), tokenizer, "JSON:", schema_grammar, 40, 20, seed=seed)
    jsonschema.validate(json.loads(person.text), PERSON_SCHEMA)
    expression = generate(RandomLogits(seed), tokenizer, "EXPR:", arithmetic_grammar, 24, 24, seed=seed)
    arithmetic_parser.parse(expression.text)


def test_random_logits_dream_convention(json_grammar):
    model = RandomLogits(7)
    model.shifted_logits = True
    result = generate(model, ByteTokenizer(), "JSON:", json_grammar, 24, 12, temperature=1.0, seed=7)
    json.loads(result.text)


def test_timeouts_count_as_rejections_and_still_finish(json_grammar):
    result = generate(
        RandomLogits(3), ByteTokenizer(), "JSON:", json_grammar, 16, 8, check_timeout=1e-9, seed=3
    )
    json.loads(result.text)
    assert result.n_timeouts > 0
    assert result.n_rejected >= result.n_timeouts


# --- alignment of the two conventions -------------------------------------------------------


@pytest.mark.parametrize("shifted", [False, True])
def test_copy_oracle_is_decoded_exactly(json_grammar, shifted):
    target = b'{"a": [1, 2]}'
    oracle = CopyOracle(b"JSON:", target, 20, shifted)
    result = generate(oracle, ByteTokenizer(), "JSON:", json_grammar, 20, 10)
    assert result.text == target.decode()
    assert result.n_rejected == 0


def test_checker_overrides_a_confident_invalid_oracle(json_grammar):
    oracle = CopyOracle(b"JSON:", b'{"a": 1,}', 12, shifted=False)
    result = generate(oracle, ByteTokenizer(), "JSON:", json_grammar, 12, 12)
    json.loads(result.text)
    assert result.n_rejected > 0


def test_unconstrained_baseline_returns_the_model_text():
    oracle = CopyOracle(b"JSON:", b"[1,]", 8, shifted=False)
    result = generate(oracle, ByteTokenizer(), "JSON:", None, 8, 4)
    assert result.text == "[1,]"
    assert result.check_seconds == 0.0


# --- canvas reading -------------------------------------------------------------------------


IS_EOS = np.arange(258) == EOS_TOKEN_ID


def test_canvas_segments_mark_interior_and_trailing_holes():
    m, e = MASK_TOKEN_ID, EOS_TOKEN_ID
    canvas = np.array([m, 123, 34, m, m, 125, m, m, e, m])
    segments = canvas_segments(canvas, m, IS_EOS)
    assert segments == [Hole(tokens=1), [123, 34], Hole(tokens=2), [125], Hole(max_tokens=2)]
    assert canvas_segments(np.array([e, m]), m, IS_EOS) == []
    assert canvas_segments(np.array([m, m]), m, IS_EOS) == [Hole(max_tokens=2)]


def test_text_after_eos_violates_the_padding():
    m, e = MASK_TOKEN_ID, EOS_TOKEN_ID
    assert violates_padding(np.array([49, e, m, 50]), m, IS_EOS)
    assert not violates_padding(np.array([49, m, e, e]), m, IS_EOS)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"length": 0, "steps": 1}, "length must be a positive int"),
        ({"length": 8, "steps": 0}, "steps must be a positive int"),
        ({"length": 8, "steps": 9}, "exceeds length"),
        ({"length": 8.0, "steps": 4}, "length must be a positive int"),
        ({"length": 8, "steps": 4, "block_length": 3}, "block_length"),
        ({"length": 8, "steps": 3, "block_length": 4}, "multiple of the number of blocks"),
        ({"length": 8, "steps": 4, "temperature": -1}, "temperature"),
        ({"length": 8, "steps": 4, "check_timeout": 0}, "check_timeout"),
    ],
)
def test_bad_arguments_raise_before_any_forward_pass(json_grammar, options, message):
    model = RandomLogits(0)
    with pytest.raises(constrain.ConstrainError, match=message):
        generate(model, ByteTokenizer(), "JSON:", json_grammar, **options)
    assert model.calls == 0


def test_no_word_fits_the_length(schema_grammar):
    model = RandomLogits(0)
    with pytest.raises(constrain.ConstrainError, match="no word of the grammar fits in length=10"):
        generate(model, ByteTokenizer(), "JSON:", schema_grammar, 10, 5)
    assert model.calls == 0


def test_not_a_diffusion_model_is_refused(json_grammar, tiny):
    assert not isinstance(tiny, MaskedDiffusionModel)
    with pytest.raises(constrain.ConstrainError, match="wrap a Hugging Face model in LLaDAAdapter"):
        generate(tiny, ByteTokenizer(), "JSON:", json_grammar, 8, 4)


def test_logits_of_the_wrong_shape_are_refused(json_grammar):
    model = LLaDAAdapter(lambda input_ids: torch.zeros(1, 3, 258), mask_token_id=MASK_TOKEN_ID)
    with pytest.raises(constrain.ConstrainError, match="must give logits of shape"):
        generate(model, ByteTokenizer(), "JSON:", json_grammar, 8, 4)


def test_nan_logits_are_refused(json_grammar):
    model = LLaDAAdapter(lambda input_ids: torch.full((*input_ids.shape, 258), torch.nan), MASK_TOKEN_ID)
    with pytest.raises(constrain.ConstrainError, match="NaN"):
        generate(model, ByteTokenizer(), "JSON:", json_grammar, 8, 4)


def test_mask_token_outside_the_logits_is_refused(json_grammar):
    model = LLaDAAdapter(lambda input_ids: torch.zeros((*input_ids.shape, 100)), mask_token_id=MASK_TOKEN_ID)
    with pytest.raises(constrain.ConstrainError, match="mask_token_id 256 is not among the model's 100"):
        generate(model, ByteTokenizer(), "JSON:", json_grammar, 8, 4)


def test_vocabulary_wider_than_the_logits_is_refused(json_grammar):
    model = LLaDAAdapter(lambda input_ids: torch.zeros((*input_ids.shape, 257)), mask_token_id=MASK_TOKEN_ID)
    with pytest.raises(constrain.ConstrainError, match="vocabulary has 258 ids but the model gives only 257"):
        generate(model, ByteTokenizer(), "JSON:", json_grammar, 8, 4)


def test_adapters_read_logits_from_model_outputs(json_grammar):
    class HFStyle(torch.nn.Module):
        def forward(self, input_ids):
            return SimpleNamespace(logits=torch.zeros((*input_ids.shape, 258)))

    model = DreamAdapter(HFStyle(), mask_token_id=MASK_TOKEN_ID)
    assert isinstance(model, MaskedDiffusionModel) and model.shifted_logits
    json.loads(generate(model, ByteTokenizer(), "JSON:", json_grammar, 8, 4).text)


def test_adapter_arguments_are_checked():
    with pytest.raises(constrain.ConstrainError, match="mask_token_id must be a non-negative int"):
        LLaDAAdapter(torch.nn.Identity(), mask_token_id=-1)
    with pytest.raises(constrain.ConstrainError, match="expected a model with forward"):
        DreamAdapter("not a model")


def test_checkpoint_errors(tmp_path):
    with pytest.raises(constrain.ConstrainError, match="no tiny diffusion checkpoint"):
        load_tiny_model(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"weights": {}}, other)
    with pytest.raises(constrain.ConstrainError, match="not a constrain tiny diffusion checkpoint"):
        load_tiny_model(other)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    length=st.integers(1, 12),
    data=st.data(),
    temperature=st.sampled_from([0.0, 1.0]),
    shifted=st.booleans(),
)
def test_any_schedule_ends_in_a_word(
    arithmetic_grammar, arithmetic_parser, seed, length, data, temperature, shifted
):
    steps = data.draw(st.integers(1, length), label="steps")
    block_length = data.draw(
        st.sampled_from([b for b in range(1, length + 1) if length % b == 0]), label="block"
    )
    n_blocks = length // block_length
    steps = max(n_blocks, steps - steps % n_blocks)
    model = RandomLogits(seed)
    model.shifted_logits = shifted
    result = generate(
        model,
        ByteTokenizer(),
        "EXPR:",
        arithmetic_grammar,
        length,
        steps,
        block_length=block_length,
        temperature=temperature,
        seed=seed,
    )
    arithmetic_parser.parse(result.text)
    assert len(result.token_ids) <= length
    assert result.steps <= steps
