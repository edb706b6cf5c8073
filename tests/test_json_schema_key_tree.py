"""Objects with many declared names, whose names are spelled in pieces along their radix tree.

``key_tree`` replaces one terminal per name (and the "every other name" terminal) by
pieces cut at the branch points of the names' trie; the language must not change. The
names here share prefixes, include each other, are empty, hold a quote, a backslash and
non-ASCII characters; texts spell every key with random escapes, pick declared and
undeclared keys in and out of order, and the verdict is compared with ``jsonschema`` plus
the documented order rule (declared keys once each, in declaration order, before the
undeclared ones).
"""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constrain
from constrain.byte_dfa import compile_regex_dfa
from constrain.json_lexemes import json_string_dfa
from constrain.json_lexemes.literals import departures_dfa, fragment_dfa
from constrain.json_schema import schema_to_grammar
from constrain.json_schema.grammar_objects import SPLIT_NAMES_FROM
from constrain.json_schema.key_tree import ROOT, key_tree

NAMES = [
    "allow",
    "allowA",
    "allowAb",
    "allowAbc",
    "allowB",
    "allowBe",
    "",
    'a"b',
    "a\\b",
    "xé",
    "xë",
    "x🤔",
    "Payload",
    "PayloadType",
    "PayloadUUID",
    "z",
]
VALUE_TYPES = ["boolean", "integer", "string", "null"]
SCHEMA_PROPERTIES = {name: {"type": VALUE_TYPES[i % 4]} for i, name in enumerate(NAMES)}
OTHER_NAMES = ["al", "allo", "allowC", "allowAbcd", "allowb", "x", "xéé", "Pay", "PayloadT", "zz", "b", "a"]
VALUES = [True, 1, "s", None]
BYTES = constrain.Vocabulary.from_token_bytes([bytes([i]) for i in range(256)] + [b""], eos_token_ids=[256])
EOS = 256


def test_the_fixture_is_large_enough_to_be_split():
    assert len(NAMES) >= SPLIT_NAMES_FROM


def test_radix_tree_spells_every_name_and_branches_on_distinct_characters():
    tree = key_tree(NAMES)
    for name in NAMES:
        path = tree.path(name)
        assert "".join(piece.text for _, piece in path) == name and path[-1][1].closes
    for pieces in tree.pieces:
        firsts = [piece.text[:1] for piece in pieces]
        assert len(firsts) == len(set(firsts))
    assert all(
        len(pieces) != 1 or pieces[0].closes for node, pieces in enumerate(tree.pieces) if node != ROOT
    )


@pytest.mark.parametrize("opens", [True, False])
def test_departures_are_the_rests_that_start_with_no_piece(opens):
    pieces = (("allow", False), ("é", False), ("", True), ("ab", True))
    departures = departures_dfa(pieces, json_string_dfa(), open_quote=opens)
    prefix = '"' if opens else ""
    for rest in [
        "",
        "a",
        "al",
        "allo",
        "allow",
        "allowX",
        "é",
        "éa",
        "ab",
        "abc",
        "b",
        "e",
        "\\u00e9",
        'a\\"',
    ]:
        for spelled in {rest, rest.replace("a", "\\u0061")}:
            text = (prefix + spelled + '"').encode()
            decoded = json.loads('"' + spelled + '"')
            starts = any(decoded == t if closes else decoded.startswith(t) for t, closes in pieces)
            assert departures.matches(text) == (not starts), text


def test_derivative_keeps_the_rests_of_the_texts_that_start_with_the_prefix():
    dfa = compile_regex_dfa("a(bc|bd)*e|ax")
    rest = dfa.after(b"abc")
    texts = [b"", b"e", b"bde", b"bce", b"x", b"bc", b"bdbce"]
    assert [rest.matches(t) for t in texts] == [dfa.matches(b"abc" + t) for t in texts]
    assert rest.n_states == rest.minimize().n_states
    assert dfa.after(b"b").is_empty


def test_fragments_spell_their_characters_in_every_way():
    fragment = fragment_dfa('é"', open_quote=False, close_quote=False)
    assert fragment.matches('é\\"'.encode()) and fragment.matches(b"\\u00E9\\u0022")
    assert not fragment.matches('é"'.encode())
    closed = fragment_dfa("a", open_quote=True, close_quote=True)
    assert closed.matches(b'"a"') and closed.matches(b'"\\u0061"') and not closed.matches(b'"a')


@st.composite
def spelled(draw, text: str) -> str:
    """``text`` as a JSON string literal, each character raw or ``\\uXXXX`` in random case."""
    out = []
    for char in text:
        units = char.encode("utf-16-be")
        escape = "".join(f"\\u{units[i] << 8 | units[i + 1]:04x}" for i in range(0, len(units), 2))
        raw = json.dumps(char, ensure_ascii=False)[1:-1]
        out.append(draw(st.sampled_from([raw, escape, escape.upper().replace("\\U", "\\u")])))
    return '"' + "".join(out) + '"'


@st.composite
def object_texts(draw) -> tuple[str, list[tuple[str, object]]]:
    """Mostly near-valid objects (the required key, values of the declared type, keys in
    order), so that a wrongly accepted or rejected key decides the verdict."""
    keys = draw(st.lists(st.sampled_from(NAMES + OTHER_NAMES), max_size=6))
    if draw(st.integers(0, 4)):
        keys.append("allowB")
    if draw(st.integers(0, 3)):
        keys = sorted(set(keys), key=lambda k: NAMES.index(k) if k in NAMES else len(NAMES))
    members = [(key, draw(st.sampled_from(VALUES))) for key in keys]
    members = [(key, _typed(key) if draw(st.integers(0, 2)) else value) for key, value in members]
    body = ", ".join(f"{draw(spelled(key))}: {json.dumps(value)}" for key, value in members)
    return "{" + body + "}", members


def _typed(key: str) -> object:
    """A value of the key's declared type (a string for undeclared keys)."""
    return VALUES[NAMES.index(key) % 4] if key in NAMES else "s"


def follows_order(members: list[tuple[str, object]]) -> bool:
    """Declared keys once each, in declaration order, before every undeclared key."""
    indices = [NAMES.index(key) if key in NAMES else len(NAMES) for key, _ in members]
    declared = [i for i in indices if i < len(NAMES)]
    undeclared = [key for key, _ in members if key not in NAMES]
    return (
        indices == sorted(indices)
        and len(declared) == len(set(declared))
        and len(undeclared) == len(set(undeclared))
    )


def accepts(compiled: constrain.CompiledGrammar, text: str) -> bool:
    matcher = compiled.matcher()
    return all(matcher.advance(byte) for byte in text.encode()) and matcher.advance(EOS)


@pytest.fixture(scope="module", params=[{"type": "string"}, False, None], ids=["string", "closed", "open"])
def schema_and_grammar(request):
    schema = {"type": "object", "properties": SCHEMA_PROPERTIES, "required": ["allowB"]}
    if request.param is not None:
        schema["additionalProperties"] = request.param
    return schema, constrain.compile_ir(schema_to_grammar(schema), BYTES)


@settings(max_examples=200, deadline=None)
@given(case=object_texts())
def test_split_names_accept_exactly_the_valid_objects_in_order(schema_and_grammar, case):
    schema, compiled = schema_and_grammar
    text, members = case
    instance = json.loads(text)
    if len(instance) != len(members):  # a repeated undeclared key: the grammar cannot exclude it
        return
    expected = jsonschema.Draft202012Validator(schema).is_valid(instance) and follows_order(members)
    assert accepts(compiled, text) == expected, text
