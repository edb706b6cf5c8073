"""constrain.json / regex / grammar / choice: errors before any model load, caching, prompts,
then end-to-end calls with the real default model (greedy, small budgets)."""

from __future__ import annotations

import json

import jsonschema
import lark
import pytest
from pydantic import BaseModel, Field

import constrain
from constrain import api
from constrain.errors import ConstrainError, GrammarError, SchemaError, UnsatisfiableSchemaError
from constrain.generation import IncompleteOutputError
from constrain.models import ModelLoadError
from constrain.prompts import extraction_prompt, generation_prompt

MISSING_MODEL = "/nonexistent/model/directory"  # loading it would fail with ModelLoadError


class Address(BaseModel):
    city: str = Field(description="the city name", examples=["Lyon"])


class Customer(BaseModel):
    """A customer of the shop."""

    name: str = Field(description="the customer's full name", examples=["Ada Lovelace"])
    address: Address


# ---------------------------------------------------------------- no model needed


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        ("{not json", SchemaError),
        ({"type": "integer", "minimum": 5, "maximum": 1}, UnsatisfiableSchemaError),
        (
            {"type": "array", "items": {"type": "object"}, "uniqueItems": True},
            constrain.UnsupportedSchemaError,
        ),
        (42, SchemaError),
    ],
)
def test_schema_errors_come_before_the_model_is_loaded(schema, error):
    with pytest.raises(error):
        constrain.json(MISSING_MODEL, schema)


def test_unknown_model_name_raises_model_load_error():
    with pytest.raises(ModelLoadError, match="unknown model"):
        constrain.json("no-such-model", {"type": "boolean"})
    with pytest.raises(ModelLoadError, match="cannot use a int"):
        constrain.choice(3, ["a", "b"], "pick")


def test_bad_regex_grammar_and_choices_fail_before_loading():
    with pytest.raises(GrammarError):
        constrain.regex(MISSING_MODEL, "a(b", "prompt")
    with pytest.raises(GrammarError, match="unknown grammar 'no_such_grammar'"):
        constrain.grammar(MISSING_MODEL, "no_such_grammar", "prompt")
    with pytest.raises(GrammarError, match="line 2"):
        constrain.grammar(MISSING_MODEL, 'start: a\na: "x" |* "y"\n', "prompt")
    with pytest.raises(ConstrainError, match="non-empty"):
        constrain.choice(MISSING_MODEL, [], "prompt")


def test_unknown_sampling_options_fail_before_loading():
    with pytest.raises(TypeError, match="unknown sampling options max_tokens; accepted are sampler"):
        constrain.choice(MISSING_MODEL, ["a", "b"], "pick", max_tokens=3)


def test_grammar_text_accepts_text_names_and_paths(tmp_path):
    assert api.grammar_text('start: "a"') == 'start: "a"'
    assert api.grammar_text("sql") == constrain.load_grammar("sql")
    path = tmp_path / "g.lark"
    path.write_text('start: "b"\n')
    assert api.grammar_text(str(path)) == 'start: "b"\n'
    assert api.grammar_text(path) == 'start: "b"\n'


def test_schema_document_accepts_dicts_text_and_pydantic_classes():
    assert api.schema_document('{"type": "string"}') == ({"type": "string"}, None)
    document, model_class = api.schema_document(Customer)
    assert model_class is Customer and document["properties"]["name"]["type"] == "string"


def test_lru_keeps_the_most_recently_used_entries():
    cache = api._LRU(2)
    built = []
    for key in ["a", "b", "a", "c", "a", "b"]:
        cache.get(key, lambda key=key: built.append(key) or key.upper())
    assert built == ["a", "b", "c", "b"]  # "b" was evicted by "c" ("a" was used more recently)


def test_generated_prompt_describes_nested_fields_with_examples():
    prompt = generation_prompt(Customer.model_json_schema())
    assert "'Customer'" in prompt and "A customer of the shop." in prompt
    assert '- name (string, required): the customer\'s full name. Examples: "Ada Lovelace"' in prompt
    assert '  - city (string, required): the city name. Examples: "Lyon"' in prompt  # through $ref
    extraction = extraction_prompt(Customer.model_json_schema(), "Ada lives in Paris.", "Find the buyer")
    assert extraction.startswith("Find the buyer for 'Customer'.")
    assert extraction.endswith("Text:\nAda lives in Paris.")
    assert "Examples" not in extraction  # a small model copies examples instead of reading the text


def test_prompt_without_properties_shows_the_schema():
    prompt = generation_prompt({"type": "array", "items": {"type": "integer"}})
    assert '{"type": "array", "items": {"type": "integer"}}' in prompt


# ---------------------------------------------------------------- the real model


CITY = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 12},
        "country": {"type": "string", "maxLength": 12},
    },
    "required": ["city", "country"],
}


@pytest.mark.model
def test_json_with_a_dict_schema_returns_a_valid_object(default_model):
    value = constrain.json(
        "default", CITY, "Name the capital of France as JSON.", temperature=0, max_new_tokens=40
    )
    jsonschema.validate(value, CITY)
    assert set(value) == {"city", "country"}  # objects are closed unless asked otherwise


@pytest.mark.model
def test_json_with_a_pydantic_class_and_a_model_pair_returns_an_instance(default_model):
    class City(BaseModel):
        name: str = Field(max_length=12, description="a city")
        population_millions: int = Field(ge=0, le=40)

    value = constrain.json(default_model, City, temperature=0, max_new_tokens=40)
    assert isinstance(value, City)
    # The bare model finds its tokenizer; the compiled grammar is reused from the cache.
    again = constrain.json(
        default_model[0], json.dumps(City.model_json_schema()), temperature=0, max_new_tokens=40
    )
    assert again == value.model_dump()


@pytest.mark.model
def test_compiled_grammars_are_cached_per_schema_and_vocabulary(default_model):
    _, tokenizer = default_model
    key, ir = api.schema_grammar(CITY, api.json_schema_options())
    assert api._compiled(key, ir, tokenizer) is api._compiled(key, ir, tokenizer)
    assert api.schema_grammar(CITY, api.json_schema_options())[1] is ir
    assert api.vocabulary_of(tokenizer) is api.vocabulary_of(tokenizer)


@pytest.mark.model
def test_regex_choice_and_grammar(default_model):
    year = constrain.regex("default", r"(19|20)\d\d", "In what year did World War II end?", temperature=0)
    assert len(year) == 4 and year.isdigit()
    assert constrain.choice("default", ["yes", "no"], "Is Paris in France?", temperature=0) in {"yes", "no"}
    expression = constrain.grammar("default", "arithmetic", "Write 2+3.", temperature=0, max_new_tokens=12)
    lark.Lark(constrain.load_grammar("arithmetic")).parse(expression)


@pytest.mark.model
def test_running_out_of_tokens_raises_with_the_partial_output(default_model):
    with pytest.raises(IncompleteOutputError) as caught:
        constrain.json("default", CITY, "A city as JSON.", temperature=0, max_new_tokens=3)
    assert caught.value.partial.startswith("{")
