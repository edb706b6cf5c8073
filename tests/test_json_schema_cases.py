"""Acceptance of the fixture schemas' instances, through the real engine.

Every case of ``fixtures/json_schema_cases.json`` lists valid and invalid instances; a
first test checks them with ``jsonschema`` (so the fixture itself is right), the second
compiles the schema and drives a byte-level matcher over ``json.dumps(instance)``: a
valid instance must be accepted byte by byte with EOS allowed at the end, an invalid
one must be rejected somewhere. ``valid_texts``/``invalid_texts`` check raw texts
(whitespace layouts, options that go beyond JSON Schema).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jsonschema
import pytest

import constrain
from constrain.json_schema import schema_to_grammar

CASES = json.loads((Path(__file__).parent / "fixtures" / "json_schema_cases.json").read_text())
VALIDATORS = {
    4: jsonschema.Draft4Validator,
    7: jsonschema.Draft7Validator,
    2020: jsonschema.Draft202012Validator,
}
BYTES = constrain.Vocabulary.from_token_bytes([bytes([i]) for i in range(256)] + [b""], eos_token_ids=[256])
EOS = 256


def accepts(compiled: constrain.CompiledGrammar, text: str) -> bool:
    matcher = compiled.matcher()
    return all(matcher.advance(byte) for byte in text.encode()) and matcher.advance(EOS)


@pytest.mark.parametrize("case", CASES, ids=[c["description"] for c in CASES])
def test_fixture_instances_are_labelled_right(case):
    validator = VALIDATORS[case.get("draft", 2020)](case["schema"], format_checker=jsonschema.FormatChecker())
    for instance in case["valid"]:
        assert validator.is_valid(instance), instance
    for instance in case["invalid"]:
        assert not validator.is_valid(instance), instance
    for text in case.get("valid_texts", []):
        assert validator.is_valid(json.loads(text)), text


@pytest.mark.parametrize("case", CASES, ids=[c["description"] for c in CASES])
def test_grammar_accepts_exactly_the_instances(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grammar = schema_to_grammar(case["schema"], **case.get("options", {}))
    compiled = constrain.compile_ir(grammar, BYTES)
    for instance in case["valid"]:
        text = json.dumps(instance, ensure_ascii=False)
        if case.get("options", {}).get("whitespace") == "compact":
            text = json.dumps(instance, ensure_ascii=False, separators=(",", ":"))
        assert accepts(compiled, text), f"valid instance rejected: {text}"
    for text in case.get("valid_texts", []):
        assert accepts(compiled, text), f"valid text rejected: {text!r}"
    for instance in case["invalid"]:
        text = json.dumps(instance, ensure_ascii=False)
        assert not accepts(compiled, text), f"invalid instance accepted: {text}"
    for text in case.get("invalid_texts", []):
        assert not accepts(compiled, text), f"invalid text accepted: {text!r}"
