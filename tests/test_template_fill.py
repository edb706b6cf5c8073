"""Multi-region infilling: every fill is a word of the grammar and keeps the template's fixed text.

Fast tests drive :func:`constrain.template_fill.fill` with stand-in causal LMs over the byte
vocabulary (a scripted writer and an adversarial random one); the ``model`` tests use SmolLM2.
Validity is judged by ``json.loads`` and ``jsonschema``, never by constrain itself.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import jsonschema
import pytest
import torch

import constrain
from constrain.diffusion import EOS_TOKEN_ID, ByteTokenizer, byte_vocabulary
from constrain.generation import IncompleteOutputError
from constrain.infill import Hole
from constrain.template_fill import fill

TEMPLATE = '{"name": <hole>, "tags": [<hole>]}'
TAGS_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3},
    },
    "required": ["name", "tags"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def json_grammar():
    return constrain.compile_grammar(constrain.load_grammar("json"), byte_vocabulary())


@pytest.fixture(scope="module")
def schema_grammar():
    return constrain.compile_json_schema(TAGS_SCHEMA, byte_vocabulary())


class ScriptedLM:
    """A causal LM over bytes that wants to write ``script`` after the prompt, then EOS.

    Off the script it prefers EOS, then bytes by closeness to "1"; the history travels in the "cache".
    """

    def __init__(self, prompt: str, script: str):
        self.prompt = list(prompt.encode())
        self.script = list(script.encode())
        self.fallback = -5.0 - (torch.arange(258) - ord("1")).abs() / 1000

    def __call__(self, input_ids, past_key_values=None, use_cache=True):
        history = (past_key_values or []) + input_ids[0].tolist()
        written = history[len(self.prompt) :]
        logits = self.fallback.clone()
        if written == self.script[: len(written)] and len(written) < len(self.script):
            logits[self.script[len(written)]] = 5.0
        else:
            logits[EOS_TOKEN_ID] = 5.0
        return SimpleNamespace(logits=logits.expand(1, input_ids.shape[1], 258), past_key_values=history)


class RandomLM:
    """An adversarial causal LM: random logits, blind to its input."""

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, input_ids, past_key_values=None, use_cache=True):
        logits = 3 * torch.randn((1, input_ids.shape[1], 258), generator=self.generator)
        return SimpleNamespace(logits=logits, past_key_values=None)


def _assert_fixed_parts_kept(result, fixed: list[str]):
    rebuilt = "".join(part for pair in zip(fixed, [*result.holes, ""], strict=True) for part in pair)
    assert rebuilt == result.text


# --- stand-in models over bytes ---------------------------------------------------------------


def test_a_valid_script_is_written_exactly(json_grammar):
    script = '{"name": "Ada", "tags": ["x", "y"]}'
    result = fill(ScriptedLM("Go:", script), ByteTokenizer(), TEMPLATE, json_grammar, prompt="Go:")
    assert result.text == script
    assert result.holes == ('"Ada"', '"x", "y"')
    assert result.n_rejected == 0


def test_an_invalid_script_is_steered_into_the_grammar(json_grammar):
    script = '{"name": Ada, "tags": [x, y]}'
    result = fill(ScriptedLM("Go:", script), ByteTokenizer(), TEMPLATE, json_grammar, prompt="Go:")
    json.loads(result.text)
    _assert_fixed_parts_kept(result, ['{"name": ', ', "tags": [', "]}"])
    assert result.n_rejected > 0


def test_segment_list_template_with_bounded_hole(schema_grammar):
    template = ['{"name": ', Hole(max_tokens=12), ', "tags": [', Hole(), "]}"]
    script = '{"name": "Alan Turing", "tags": ["a", "b"]}'
    result = fill(ScriptedLM("Go:", script), ByteTokenizer(), template, schema_grammar, prompt="Go:")
    jsonschema.validate(json.loads(result.text), TAGS_SCHEMA)
    assert len(result.holes[0].encode()) <= 12


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_logits_fill_validly_or_report_the_budget(json_grammar, schema_grammar, seed):
    for grammar in (json_grammar, schema_grammar):
        try:
            result = fill(RandomLM(seed), ByteTokenizer(), TEMPLATE, grammar, temperature=1.0, seed=seed)
        except IncompleteOutputError as error:
            assert error.partial.startswith('{"name": ')
            continue
        document = json.loads(result.text)
        if grammar is schema_grammar:
            jsonschema.validate(document, TAGS_SCHEMA)
        _assert_fixed_parts_kept(result, ['{"name": ', ', "tags": [', "]}"])


def test_a_hole_is_cut_back_to_where_it_could_close(json_grammar):
    script = '{"name": 12345678, "tags": ["x"]}'
    result = fill(
        ScriptedLM("Go:", script),
        ByteTokenizer(),
        TEMPLATE,
        json_grammar,
        prompt="Go:",
        max_tokens_per_hole=4,
    )
    json.loads(result.text)
    assert result.holes[0] in ("12", "123")


def test_a_hole_that_cannot_close_in_its_budget_raises():
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 10}},
        "required": ["name"],
    }
    grammar = constrain.compile_json_schema(schema, byte_vocabulary())
    lm = ScriptedLM("Go:", '{"name": "Ada Lovelace"}')
    with pytest.raises(IncompleteOutputError, match="hole 0 used its 4 tokens") as caught:
        fill(lm, ByteTokenizer(), '{"name": <hole>}', grammar, prompt="Go:", max_tokens_per_hole=4)
    assert caught.value.partial == '{"name": "Ad'  # the space was written again (token healing)


# --- errors before any generation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "options", "message"),
    [
        ('{"a": <hole>]', {}, "cannot become a word of the grammar"),
        ('{"a": 1}', {}, "has no hole"),
        ("[<hole><hole>]", {}, "two holes are adjacent"),
        (["[", Hole(tokens=2), "]"], {}, "supports Hole"),
        (["[", Hole(max_tokens=0), "]"], {}, "give k >= 1"),
        (["[", 3, "]"], {}, "template item 1 is a int"),
        ([b"[\xff", Hole(), "]"], {}, "not UTF-8"),
        (42, {}, "template must be a str"),
        ("[<hole>]", {"max_tokens_per_hole": 0}, "max_tokens_per_hole must be a positive int"),
        ("[<hole>]", {"temperature": -0.5}, "temperature"),
    ],
)
def test_bad_templates_and_options_raise_before_generation(json_grammar, template, options, message):
    with pytest.raises(constrain.ConstrainError, match=message):
        fill(None, None, template, json_grammar, **options)


def test_grammar_must_be_compiled():
    with pytest.raises(constrain.ConstrainError, match="CompiledGrammar"):
        fill(None, None, "[<hole>]", constrain.load_grammar("json"))


# --- SmolLM2 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm():
    model, tokenizer = constrain.load_default_model()
    vocab = constrain.Vocabulary.from_tokenizer(tokenizer)
    return model, tokenizer, vocab


@pytest.mark.model
def test_smollm_fills_a_json_template(smollm):
    model, tokenizer, vocab = smollm
    grammar = constrain.compile_grammar(constrain.load_grammar("json"), vocab)
    result = fill(
        model, tokenizer, TEMPLATE, grammar, prompt="Describe Ada Lovelace as JSON.", max_tokens_per_hole=16
    )
    json.loads(result.text)
    _assert_fixed_parts_kept(result, ['{"name": ', ', "tags": [', "]}"])


@pytest.mark.model
def test_smollm_fills_a_schema_template_with_sampling(smollm):
    model, tokenizer, vocab = smollm
    grammar = constrain.compile_json_schema(TAGS_SCHEMA, vocab)
    result = fill(
        model,
        tokenizer,
        TEMPLATE,
        grammar,
        prompt="A JSON record for Alan Turing with a few tags.",
        max_tokens_per_hole=16,
        temperature=0.8,
        seed=1,
    )
    document = json.loads(result.text)
    jsonschema.validate(document, TAGS_SCHEMA)
    _assert_fixed_parts_kept(result, ['{"name": ', ', "tags": [', "]}"])
