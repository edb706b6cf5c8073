"""constrain.generate and the transformers LogitsProcessor: unit tests on a tiny vocabulary,
then real SmolLM2 generations whose outputs must parse."""

from __future__ import annotations

import json

import jsonschema
import lark
import pytest
import torch

import constrain
from constrain.errors import ConstrainError, MatcherError
from constrain.generation import GenerationResult, IncompleteOutputError, generate
from constrain.logits_processor import LogitsProcessor, only_end_tokens_allowed

# A tiny vocabulary: token i is TOKENS[i]; 0 is the end token.
TOKENS = [b"", b"a", b"b", b"ab", b"(", b")"]
EOS = 0
NEG = -float("inf")


@pytest.fixture(scope="module")
def tiny_vocab():
    return constrain.Vocabulary.from_token_bytes(TOKENS, eos_token_ids=[EOS])


def _finite(scores_row) -> set[int]:
    return {i for i, value in enumerate(scores_row.tolist()) if value != NEG}


def test_processor_masks_each_row_with_its_own_grammar(tiny_vocab):
    grammars = [constrain.compile_regex("ab?", tiny_vocab), constrain.compile_regex("b+", tiny_vocab)]
    processor = LogitsProcessor(grammars)
    prompt = torch.tensor([[7, 7], [9, 9]])  # prompt tokens are never fed to the matchers
    scores = processor(prompt, torch.zeros(2, len(TOKENS)))
    assert _finite(scores[0]) == {1, 3}
    assert _finite(scores[1]) == {2}
    scores = processor(torch.tensor([[7, 7, 1], [9, 9, 2]]), torch.zeros(2, len(TOKENS)))
    assert _finite(scores[0]) == {2, EOS}  # "a" may end or take "b"
    assert _finite(scores[1]) == {2, EOS}


def test_processor_forces_the_end_token_and_keeps_finished_rows_padding_safe(tiny_vocab):
    processor = LogitsProcessor(constrain.compile_regex("ab", tiny_vocab))
    processor(torch.tensor([[5], [5]]), torch.zeros(2, len(TOKENS)))
    scores = processor(torch.tensor([[5, 3], [5, 1]]), torch.randn(2, len(TOKENS)))
    assert _finite(scores[0]) == {EOS} and scores[0, EOS] == 0.0
    assert _finite(scores[1]) == {2}
    scores = processor(torch.tensor([[5, 3, EOS], [5, 1, 2]]), torch.randn(2, len(TOKENS)))
    assert processor.finished == [True, False]
    # The finished row now receives padding (any id); it stays finished and keeps only EOS finite.
    scores = processor(torch.tensor([[5, 3, EOS, 4], [5, 1, 2, EOS]]), torch.randn(2, len(TOKENS)))
    assert processor.finished == [True, True]
    assert _finite(scores[0]) == {EOS} and _finite(scores[1]) == {EOS}


def test_processor_refuses_reordered_rows_as_beam_search_would_produce(tiny_vocab):
    processor = LogitsProcessor(constrain.compile_regex("[ab]+", tiny_vocab))
    processor(torch.tensor([[5], [4]]), torch.zeros(2, len(TOKENS)))
    processor(torch.tensor([[5, 1], [4, 2]]), torch.zeros(2, len(TOKENS)))
    with pytest.raises(ConstrainError, match="beam search"):
        processor(torch.tensor([[4, 2, 1], [5, 1, 1]]), torch.zeros(2, len(TOKENS)))
    processor.reset()
    processor(torch.tensor([[4, 2, 1]]), torch.zeros(1, len(TOKENS)))


def test_processor_rejects_a_token_its_grammar_forbids(tiny_vocab):
    processor = LogitsProcessor(constrain.compile_regex("a", tiny_vocab))
    processor(torch.tensor([[5]]), torch.zeros(1, len(TOKENS)))
    with pytest.raises(MatcherError, match="does not allow"):
        processor(torch.tensor([[5, 2]]), torch.zeros(1, len(TOKENS)))


def test_processor_needs_one_grammar_per_row(tiny_vocab):
    processor = LogitsProcessor([constrain.compile_regex("a", tiny_vocab)] * 2)
    with pytest.raises(ConstrainError, match="2 grammars for a batch of 3"):
        processor(torch.zeros(3, 1, dtype=torch.long), torch.zeros(3, len(TOKENS)))
    with pytest.raises(ConstrainError):
        LogitsProcessor([])


def test_only_end_tokens_allowed(tiny_vocab):
    matcher = constrain.compile_regex("ab?", tiny_vocab).matcher()
    mask = tiny_vocab.allocate_bitmask()
    matcher.fill_bitmask(mask)
    assert not only_end_tokens_allowed(mask, tiny_vocab.eos_token_ids)
    matcher.advance(3)
    matcher.fill_bitmask(mask)
    assert only_end_tokens_allowed(mask, tiny_vocab.eos_token_ids)
    assert not only_end_tokens_allowed(tiny_vocab.allocate_bitmask(), tiny_vocab.eos_token_ids)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sampler": "beam"}, "unknown sampler 'beam'; accepted are 'mask', 'awrs'"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"sampler": "awrs", "top_p": 0.9}, "top_p < 1 is only supported"),
    ],
)
def test_generate_rejects_bad_options_before_running_the_model(tiny_vocab, options, message):
    grammar = constrain.compile_regex("a", tiny_vocab)
    with pytest.raises(ConstrainError, match=message):
        generate(None, None, "prompt", grammar, **options)


# ---------------------------------------------------------------- the real model

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}
PERSON_PROMPT = "Give a JSON object for a person with a name and an age."
ARITHMETIC_PROMPT = "Compute: 2+3 ="


@pytest.fixture(scope="module")
def smollm():
    """The model on one thread: on a shared 2-core CI machine, two torch threads competing with
    other processes run many times slower than one."""
    from constrain.models import load_default_model

    model, tokenizer = load_default_model()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield model, tokenizer, constrain.Vocabulary.from_tokenizer(tokenizer)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def person_grammar(smollm):
    return constrain.compile_json_schema(PERSON, smollm[2])


@pytest.fixture(scope="module")
def arithmetic(smollm):
    text = constrain.load_grammar("arithmetic")
    return constrain.compile_grammar(text, smollm[2]), lark.Lark(
        text, parser="earley", lexer="dynamic_complete"
    )


def _check_person(text: str) -> None:
    jsonschema.validate(json.loads(text), PERSON)


@pytest.mark.model
@pytest.mark.parametrize(
    "options", [{"temperature": 0.0}, {"seed": 3, "sampler": "awrs"}, {"seed": 4, "top_p": 0.9}]
)
def test_generate_json_schema(smollm, person_grammar, options):
    model, tokenizer, _ = smollm
    result = generate(model, tokenizer, PERSON_PROMPT, person_grammar, max_new_tokens=60, **options)
    assert isinstance(result, GenerationResult) and str(result) == result.text
    assert result.complete and result.finish_reason == "eos"
    _check_person(result.text)
    assert tokenizer.decode(list(result.token_ids)) == result.text


@pytest.mark.model
@pytest.mark.parametrize("options", [{"temperature": 0.0}, {"seed": 0}, {"seed": 0, "sampler": "awrs"}])
def test_generate_arithmetic_parses_and_seeds_reproduce(smollm, arithmetic, options):
    model, tokenizer, _ = smollm
    grammar, parser = arithmetic
    runs = [
        generate(model, tokenizer, ARITHMETIC_PROMPT, grammar, max_new_tokens=12, chat=False, **options)
        for _ in range(2)
    ]
    assert runs[0].complete
    parser.parse(runs[0].text)
    assert runs[0].token_ids == runs[1].token_ids


@pytest.mark.model
def test_too_few_tokens_raise_with_the_partial_output(smollm, person_grammar):
    model, tokenizer, _ = smollm
    with pytest.raises(IncompleteOutputError, match="max_new_tokens=2") as raised:
        generate(model, tokenizer, PERSON_PROMPT, person_grammar, max_new_tokens=2, temperature=0)
    assert isinstance(raised.value, ConstrainError)
    assert raised.value.partial.lstrip().startswith("{") and len(raised.value.token_ids) == 2


def prompt_text(tokenizer, prompt: str) -> str:
    messages = [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _batch(tokenizer, prompts: list[str], chat: bool):
    texts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        if chat
        else p
        for p in prompts
    ]
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side


@pytest.mark.model
def test_model_generate_samples_a_batch_of_two_json_prompts(smollm, person_grammar):
    model, tokenizer, _ = smollm
    batch = _batch(tokenizer, [PERSON_PROMPT, "Describe a famous scientist as JSON with name and age."], True)
    torch.manual_seed(5)
    output = model.generate(
        **batch, logits_processor=[LogitsProcessor(person_grammar)], max_new_tokens=60, do_sample=True
    )
    for row in output[:, batch["input_ids"].shape[1] :]:
        assert tokenizer.eos_token_id in row.tolist()  # every row ended itself
        _check_person(tokenizer.decode(row, skip_special_tokens=True))


@pytest.mark.model
def test_model_generate_with_one_grammar_per_row(smollm, person_grammar, arithmetic):
    model, tokenizer, _ = smollm
    grammar, parser = arithmetic
    batch = _batch(tokenizer, [ARITHMETIC_PROMPT, "A person as JSON:"], False)
    processor = LogitsProcessor([grammar, person_grammar])
    output = model.generate(**batch, logits_processor=[processor], max_new_tokens=40, do_sample=False)
    new_tokens = output[:, batch["input_ids"].shape[1] :]
    assert processor.matchers[0].is_accepting()
    parser.parse(tokenizer.decode(new_tokens[0], skip_special_tokens=True))
    assert tokenizer.eos_token_id in new_tokens[1].tolist()
    _check_person(tokenizer.decode(new_tokens[1], skip_special_tokens=True))
