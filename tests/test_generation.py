"""constrain.generate and the transformers LogitsProcessor: unit tests on a tiny vocabulary,
then real SmolLM2 generations whose outputs must parse."""

from __future__ import annotations

import functools
import json
import math
import re
from collections import defaultdict

import jsonschema
import lark
import numpy as np
import pytest
import torch

import constrain
from constrain.cached_lm import CachedCausalLM
from constrain.errors import ConstrainError, MatcherError, SamplingError
from constrain.fast_forward import ForcedTokens
from constrain.generation import GenerationResult, IncompleteOutputError, generate
from constrain.logits_processor import LogitsProcessor, only_end_tokens_allowed
from constrain.testing_lm import TableLM, exact_language_distribution

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
        ({"sampler": "beam"}, "unknown sampler 'beam'; accepted are 'mask', 'awrs', 'smc'"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"sampler": "awrs", "top_p": 0.9}, "top_p < 1 is only supported"),
        ({"sampler": "smc", "top_p": 0.9}, "top_p < 1 is only supported"),
        ({"sampler": "smc", "temperature": 0.0}, "temperature=0"),
        ({"sampler": "smc", "n_particles": 0}, "n_particles"),
        ({"sampler": "smc", "ess_threshold": 1.5}, "ess_threshold"),
    ],
)
def test_generate_rejects_bad_options_before_running_the_model(tiny_vocab, options, message):
    grammar = constrain.compile_regex("a", tiny_vocab)
    with pytest.raises(SamplingError, match=message):
        generate(None, None, "prompt", grammar, **options)


def test_old_import_paths_of_the_moved_errors_still_work():
    from constrain.errors import IncompleteOutputError as moved
    from constrain.errors import ModelLoadError
    from constrain.models import ModelLoadError as old_model_error

    assert IncompleteOutputError is moved and constrain.IncompleteOutputError is moved
    assert old_model_error is ModelLoadError and issubclass(SamplingError, ConstrainError)


# ------------------------------------------------- our loop on a tiny random transformer
# A randomly initialized two-layer Llama is a real transformers model (KV cache, attention
# masks, position ids) small enough to enumerate: its exact constrained distributions are
# computed from its own next-token probabilities.

LOOP_TOKENS = [b"", b"a", b"b", b"c", b"d", b"ab", b"abc", b"cd", b"bc"]
LOOP_PATTERN = "(d|c)abcd(a|b)?"  # after the first letter, "abcd" is forced: abc + d
# Forced stretches of different lengths ("d", or "bcd" = bc + d): particles feed the model
# different numbers of tokens in one batch.
SMC_PATTERN = "(cd|dbcd)(a|b)?"
LOOP_PROMPT = [1, 2]


class _FixedPromptTokenizer:
    """Encodes every prompt as LOOP_PROMPT; has no chat template."""

    chat_template = None

    def encode(self, text, add_special_tokens=False):
        return list(LOOP_PROMPT)


@pytest.fixture(scope="module")
def loop_vocab():
    return constrain.Vocabulary.from_token_bytes(LOOP_TOKENS, eos_token_ids=[EOS])


def _tiny_llama(device: str = "cpu"):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(LOOP_TOKENS) + 3,  # padded: ids 9-11 are never allowed
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(5)  # from near-uniform to a model with preferences
    return model.to(device)


@pytest.fixture(scope="module")
def tiny_llama():
    return _tiny_llama()


def _spell(token_ids) -> bytes:
    return b"".join(LOOP_TOKENS[t] for t in token_ids)


@pytest.mark.parametrize("sampler", ["mask", "awrs", "smc"])
@pytest.mark.parametrize("fast_forward", [True, False])
def test_every_sampler_stays_in_the_language_with_and_without_fast_forward(
    tiny_llama, loop_vocab, sampler, fast_forward
):
    grammar = constrain.compile_regex(LOOP_PATTERN, loop_vocab)
    for seed in range(3):
        result = generate(
            tiny_llama,
            _FixedPromptTokenizer(),
            "any",
            grammar,
            sampler=sampler,
            seed=seed,
            max_new_tokens=8,
            chat=False,
            fast_forward=fast_forward,
        )
        assert re.fullmatch(LOOP_PATTERN, result.text) and _spell(result.token_ids) == result.text.encode()
        assert result.n_forced_tokens == (2 if fast_forward else 0)  # abc and d
        sampled_steps = len(result.token_ids) - result.n_forced_tokens + 1  # + the end token
        if sampler == "mask":
            assert result.n_full_masks == sampled_steps
            assert result.n_checks == sampled_steps * loop_vocab.size
        else:  # AWRS checks each drawn token; 64 rejections are impossible among 9 ids
            assert result.n_full_masks == 0 and result.n_checks >= sampled_steps
        assert (result.particles is not None) == (sampler == "smc")


def test_masks_computed_while_the_model_runs_give_the_same_outputs(tiny_llama, loop_vocab, monkeypatch):
    """The overlap is on only for accelerators; forced on here, it must change nothing."""
    grammar = constrain.compile_regex(LOOP_PATTERN, loop_vocab)

    def outputs():
        return [
            generate(
                tiny_llama, _FixedPromptTokenizer(), "any", grammar, seed=s, max_new_tokens=8, chat=False
            )
            for s in range(4)
        ]

    in_line = outputs()
    monkeypatch.setattr("constrain.generation.overlaps_masks", lambda device: True)
    overlapped = outputs()
    assert [r.token_ids for r in overlapped] == [r.token_ids for r in in_line]
    assert [r.n_full_masks for r in overlapped] == [r.n_full_masks for r in in_line]


def test_smc_through_generate_matches_the_exact_target(tiny_llama, loop_vocab):
    """Shared prompt cache, padded batches, resampling and forced-token weights, all at once."""
    grammar = constrain.compile_regex(SMC_PATTERN, loop_vocab)
    exact, normalizer = exact_language_distribution(
        _as_table(tiny_llama), grammar, 6, ForcedTokens(loop_vocab)
    )
    result = generate(
        tiny_llama,
        _FixedPromptTokenizer(),
        "any",
        grammar,
        sampler="smc",
        n_particles=3000,
        seed=0,
        max_new_tokens=6,
        chat=False,
    )
    weighted: dict[str, float] = defaultdict(float)
    for text, weight in result.particles:
        weighted[text] += weight
    by_text: dict[str, float] = defaultdict(float)
    for tokens, probability in exact.items():
        by_text[_spell(tokens[:-1]).decode()] += probability
    assert len(by_text) == 6 and max(by_text.values()) < 0.8  # cd 0.71, cda 0.20, cdb 0.07, dbcd 0.02
    # Seeds 0-3 measured 0.004 to 0.03; without the forced tokens' probabilities, 0.43.
    assert 0.5 * sum(abs(weighted[t] - by_text[t]) for t in set(weighted) | set(by_text)) < 0.08
    # Seeds 0-3 measured ratios 0.94 to 1.15; without the forced tokens' probabilities, 5.0.
    assert math.exp(result.log_marginal_likelihood) == pytest.approx(normalizer, rel=0.3)


def _as_table(model) -> TableLM:
    """The model's exact next-token distributions after LOOP_PROMPT, as a TableLM."""

    def next_distribution(prefix: tuple[int, ...]) -> dict[int, float]:
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([LOOP_PROMPT + list(prefix)])).logits[0, -1]
        probabilities = torch.softmax(logits.double(), dim=-1).tolist()
        return dict(enumerate(probabilities))

    return TableLM(len(LOOP_TOKENS) + 3, default=functools.cache(next_distribution))


def test_cached_lm_answers_like_full_recomputation(tiny_llama):
    """Rows extended by different numbers of tokens, duplicated and dropped as SMC does."""
    lm = CachedCausalLM(tiny_llama, LOOP_PROMPT, temperature=0.7)
    rng = np.random.default_rng(0)
    prefixes: list[list[int]] = [[] for _ in range(4)]
    for _ in range(5):
        queries = []
        for prefix in prefixes:
            new = [int(t) for t in rng.integers(1, len(LOOP_TOKENS), size=int(rng.integers(1, 4)))]
            queries += [prefix + new[:k] for k in range(len(new) + 1)]
            prefix += new
        with torch.inference_mode():
            got = lm(queries)
            want = [
                torch.log_softmax(
                    tiny_llama(input_ids=torch.tensor([LOOP_PROMPT + q])).logits[0, -1] / 0.7, -1
                )
                for q in queries
            ]
        assert got.device == tiny_llama.device  # the rows stay on the model's device for AWRS
        np.testing.assert_allclose(got.cpu().numpy(), torch.stack(want).double().numpy(), atol=1e-4)
        prefixes = [list(prefixes[i]) for i in rng.integers(0, len(prefixes), size=len(prefixes))]
    with pytest.raises(SamplingError, match="extends no prefix"):
        lm([[]])


def test_smc_that_runs_out_of_tokens_raises_incomplete_output(tiny_llama, loop_vocab):
    grammar = constrain.compile_regex(LOOP_PATTERN, loop_vocab)
    with pytest.raises(IncompleteOutputError) as raised:
        generate(
            tiny_llama, _FixedPromptTokenizer(), "any", grammar, sampler="smc", max_new_tokens=3, chat=False
        )
    assert re.fullmatch("(d|c)abcd", raised.value.partial)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("sampler", ["mask", "awrs", "smc"])
def test_generate_on_cuda(loop_vocab, sampler):
    grammar = constrain.compile_regex(LOOP_PATTERN, loop_vocab)
    model = _tiny_llama("cuda")
    for temperature in (1.0, 0.0) if sampler != "smc" else (1.0,):
        result = generate(
            model,
            _FixedPromptTokenizer(),
            "any",
            grammar,
            sampler=sampler,
            seed=0,
            max_new_tokens=8,
            chat=False,
            temperature=temperature,
        )
        assert re.fullmatch(LOOP_PATTERN, result.text)


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
ORDER = {
    "type": "object",
    "properties": {
        "item": {"enum": ["apple", "banana", "cherry"]},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 9},
        "express": {"type": "boolean"},
    },
    "required": ["item", "quantity", "express"],
    "additionalProperties": False,
}
TAGS = {"type": "array", "items": {"type": "string", "maxLength": 10}, "minItems": 1, "maxItems": 3}
SCHEMAS = {
    "person": (PERSON, PERSON_PROMPT),
    "order": (ORDER, "Give a JSON fruit order: an item, a quantity and whether it ships express."),
    "tags": (TAGS, "Give up to three short tags for a blog post about cooking, as a JSON array."),
}
ARITHMETIC_PROMPT = "Compute: 2+3 ="
SQL_PROMPT = (
    "Write a SQL query that returns the names of all users older than 30. Answer with only the query."
)


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


@pytest.fixture(scope="module")
def sql(smollm):
    text = constrain.load_grammar("sql")
    return constrain.compile_grammar(text, smollm[2]), lark.Lark(
        text, parser="earley", lexer="dynamic_complete"
    )


@pytest.fixture(scope="module")
def schema_grammars(smollm):
    return {name: constrain.compile_json_schema(schema, smollm[2]) for name, (schema, _) in SCHEMAS.items()}


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
@pytest.mark.parametrize("schema", sorted(SCHEMAS))
@pytest.mark.parametrize(("sampler", "seed"), [("mask", 1), ("awrs", 2), ("smc", 3)])
def test_every_sampler_validates_several_schemas(smollm, schema_grammars, schema, sampler, seed):
    model, tokenizer, _ = smollm
    schema_dict, prompt = SCHEMAS[schema]
    result = generate(
        model, tokenizer, prompt, schema_grammars[schema], sampler=sampler, seed=seed, max_new_tokens=60
    )
    jsonschema.validate(json.loads(result.text), schema_dict)
    if sampler == "smc":
        assert result.log_marginal_likelihood <= 0.0 and sum(w for _, w in result.particles) == pytest.approx(
            1
        )
        for text, _ in result.particles:
            jsonschema.validate(json.loads(text), schema_dict)


@pytest.mark.model
@pytest.mark.parametrize(
    "options", [{"temperature": 0.0}, {"seed": 0, "sampler": "awrs"}, {"seed": 1, "sampler": "smc"}]
)
def test_generate_sql_parses(smollm, sql, options):
    model, tokenizer, _ = smollm
    grammar, parser = sql
    result = generate(model, tokenizer, SQL_PROMPT, grammar, max_new_tokens=40, **options)
    assert result.complete
    parser.parse(result.text)


@pytest.mark.model
@pytest.mark.parametrize(
    "options",
    # Seeds whose sample ends within 12 tokens (about half do with "mask" or "awrs", few with "smc").
    [{"temperature": 0.0}, {"seed": 0}, {"seed": 2, "sampler": "awrs"}, {"seed": 20, "sampler": "smc"}],
)
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
