"""The infilling checker's API: targeted cases, bad input, timeouts, real grammars and vocabularies.

Exhaustive comparisons with brute force live in ``tests/test_infill_reference.py``. Here
each targeted JSON case that should be COMPLETABLE comes with a witness completion that
``ReferenceChecker`` confirms, and each that should not with the reason no completion
exists (these cover the unbounded-hole direction that brute force cannot for JSON).
"""

from __future__ import annotations

import pytest

import constrain
from constrain import ConstrainError, Vocabulary, compile_ir, compile_json_schema, load_grammar
from constrain.errors import VocabularyError
from constrain.infill import Checker, Hole, InfillError, Verdict
from constrain.lark_frontend import grammar_from_lark
from constrain.testing import ReferenceChecker

BYTE_EOS = 256


@pytest.fixture(scope="module")
def byte_vocab() -> Vocabulary:
    """The tiny diffusion model's vocabulary: one token per byte, then EOS."""
    return Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [b""], eos_token_ids=[BYTE_EOS])


@pytest.fixture(scope="module")
def json_grammar():
    return grammar_from_lark(load_grammar("json"))


@pytest.fixture(scope="module")
def json_checker(byte_vocab, json_grammar) -> Checker:
    return Checker(compile_ir(json_grammar, byte_vocab))


@pytest.fixture(scope="module")
def json_reference(json_grammar) -> ReferenceChecker:
    return ReferenceChecker(json_grammar)


def fill(segments: list, fills: list[bytes]) -> bytes:
    """The text of ``segments`` with the holes replaced, in order, by ``fills``."""
    out, remaining = b"", iter(fills)
    for item in segments:
        out += next(remaining) if isinstance(item, Hole) else item
    return out


# (segments, witness fills) for completable canvases of the JSON grammar over bytes
JSON_COMPLETABLE = [
    ([b'{"a": ', Hole(), b"}"], [b"1"]),
    ([Hole()], [b"0"]),
    ([Hole(), b"]"], [b"["]),
    ([b'{"a" ', Hole(tokens=2), b"}"], [b":1"]),
    ([b'{"a" ', Hole(max_tokens=5), b"}"], [b":1"]),
    ([b"[", Hole(tokens=0), b"]"], [b""]),
    ([b"[1", Hole(), Hole(), b"2]"], [b",", b""]),
    ([b"[1", Hole(tokens=1), Hole(tokens=1), b"2]"], [b",", b" "]),
    ([b'"\xe6\x97', Hole(tokens=1), b'"'], [b"\xa5"]),  # a cut character completed
    ([b'["\xc3', Hole(), b"\xa9", Hole(), b"]"], [b'\xa9", "\xc3', b'"']),  # known text with a cut character
    ([Hole(tokens=3), b" \n\t"], [b"  1"]),  # ignored whitespace at both ends
    ([b"  ", Hole(max_tokens=3)], [b"[]"]),
    ([b"tr", Hole(max_tokens=2)], [b"ue"]),
    ([b"1", Hole(tokens=2), b"5"], [b"e+"]),
    ([b"-", Hole(), b"0.", Hole(tokens=1), b"e1"], [b"", b"5"]),
    ([b"[]", Hole(tokens=1)], [b"\n"]),
]

# (segments, why no completion exists)
JSON_NOT_COMPLETABLE = [
    ([b'{"a": ', b"}"], "a member needs a value"),
    ([b'{"a" ', Hole(tokens=1), b"}"], "':' and a value take at least two bytes"),
    ([b"tr", Hole(max_tokens=1)], "'true' needs two more bytes"),
    ([Hole(tokens=0)], "the empty text is no JSON value"),
    ([b"[1", Hole(tokens=0), b" 2]"], "two values in an array need a ','"),
    (
        [b"01", Hole()],
        "a number cannot start with 0 followed by a digit, strings and others cannot start with 0",
    ),
    ([Hole(), b"\xff", Hole()], "0xFF is never part of UTF-8 text"),
    ([b'"\xc3', Hole(tokens=0), b'"'], "a cut character stays cut"),
    ([Hole(), b"}", Hole(), b"{", Hole(tokens=0)], "the text must end with '{' but JSON never ends with '{'"),
    ([b"[", Hole(max_tokens=3), b",]"], "a ',' needs a value after it, and nothing can stand there"),
    ([b"[]", Hole(tokens=1), b"x"], "after a complete top-level value only whitespace may follow"),
]


@pytest.mark.parametrize("segments,fills", JSON_COMPLETABLE)
def test_json_completable_with_witness(json_checker, json_reference, segments, fills):
    assert json_reference.is_complete(fill(segments, fills))
    assert json_checker.check(segments) is Verdict.COMPLETABLE
    assert json_checker.is_completable(segments)


@pytest.mark.parametrize("segments,reason", JSON_NOT_COMPLETABLE)
def test_json_not_completable(json_checker, segments, reason):
    assert json_checker.check(segments) is Verdict.NOT_COMPLETABLE, reason


def test_empty_canvas_is_the_empty_text(json_checker, byte_vocab):
    assert json_checker.check([]) is Verdict.NOT_COMPLETABLE
    assert json_checker.check([b"", [], Hole(tokens=0), Hole(max_tokens=0)]) is Verdict.NOT_COMPLETABLE
    optional = Checker(constrain.compile_grammar('start: "a"?\n%ignore " "', byte_vocab))
    assert optional.is_completable([]) and optional.is_completable([b"  "])
    assert optional.is_completable([Hole(max_tokens=0)]) and not optional.is_completable([b"b"])


def test_token_ids_and_bytes_concatenate(json_checker):
    open_brace, quote = ord("{"), ord('"')
    assert json_checker.is_completable([[open_brace, quote], b'a":', Hole(), [ord("}")]])
    assert not json_checker.is_completable([[open_brace], b"}", (ord("}"),)])


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_hole,message",
    [
        (lambda: Hole(tokens=-1), "must be >= 0"),
        (lambda: Hole(max_tokens=-3), "must be >= 0"),
        (lambda: Hole(tokens=1, max_tokens=2), "at most one of"),
        (lambda: Hole(tokens=1.5), "must be an int"),
        (lambda: Hole(tokens=True), "must be an int"),
    ],
)
def test_bad_holes(make_hole, message):
    with pytest.raises(InfillError, match=message) as error:
        make_hole()
    assert isinstance(error.value, ConstrainError) and isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    "segments,message",
    [
        (b"[1]", "must be a list of items"),
        ("[1]", "must be a list of items"),
        ([b"[", "1", b"]"], r"segment 1 is a str.*encode"),
        ([b"[", 1, b"]"], "segment 1 is a int"),
        ([None], "segment 0 is a NoneType"),
        ([[ord("1"), 257]], "token id 257 is out of range 0..256"),
        ([[-1]], "token id -1 is out of range"),
        ([[BYTE_EOS]], "token id 256 is an EOS token; strip it"),
        ([[ord("1"), "2"]], "token ids must be ints"),
        ([b"1", Hole], "segment 1 is a type"),
    ],
)
def test_bad_segments(json_checker, segments, message):
    with pytest.raises(InfillError, match=message):
        json_checker.check(segments)


@pytest.mark.parametrize("timeout", [-1, float("nan"), "1", True])
def test_bad_timeout(json_checker, timeout):
    with pytest.raises(InfillError, match="timeout must be"):
        json_checker.check([Hole()], timeout=timeout)


def test_checker_needs_a_compiled_grammar():
    with pytest.raises(InfillError, match="needs a CompiledGrammar"):
        Checker(load_grammar("json"))


def test_special_tokens_without_text_are_refused():
    vocab = Vocabulary.from_token_bytes([b"a", b"", b"b"], eos_token_ids=[2])
    checker = Checker(constrain.compile_regex("a*", vocab))
    with pytest.raises(InfillError, match="special token without text"):
        checker.check([[0, 1]])


# --- time budget -------------------------------------------------------------------------


def test_tiny_timeout_on_a_large_canvas_times_out(json_checker):
    canvas = [b"["]
    for _ in range(400):
        canvas += [Hole(tokens=3), b","]
    canvas += [Hole(max_tokens=50)]
    assert json_checker.check(canvas, timeout=0.0) is Verdict.TIMEOUT
    assert json_checker.check(canvas, timeout=0.001) is Verdict.TIMEOUT


def test_generous_timeout_gives_the_exact_verdict(json_checker):
    assert json_checker.check([b'{"a": ', Hole(), b"}"], timeout=60.0) is Verdict.COMPLETABLE
    assert json_checker.check([b'{"a": ', b"}"], timeout=60.0) is Verdict.NOT_COMPLETABLE


# --- other grammar sources -----------------------------------------------------------------


def test_json_schema_grammar(byte_vocab):
    schema = {
        "type": "object",
        "properties": {"age": {"type": "integer"}, "name": {"type": "string"}},
        "required": ["age"],
        "additionalProperties": False,
    }
    checker = Checker(compile_json_schema(schema, byte_vocab))
    assert checker.is_completable([b'{"age": ', Hole(), b"}"])
    assert checker.is_completable([b'{"age": 1', Hole(), b"}"])  # ', "name": "x"' fits in the hole
    assert not checker.is_completable([b'{"name": "x"', Hole(), b"}"])  # properties come in schema order
    assert not checker.is_completable([b'{"age": "', Hole(), b"}"])  # age must be an integer
    assert not checker.is_completable([b'{"name": "x"}'])  # age is required
    assert not checker.is_completable([b'{"height": ', Hole()])  # no additional properties
    assert checker.is_completable([b'{"age": 1', Hole(tokens=0), b"2}"])
    assert not checker.is_completable([b'{"age": 1', Hole(tokens=0), b".5}"])


def test_regex_grammar(byte_vocab):
    checker = Checker(constrain.compile_regex(r"[0-9]{3}-[0-9]{4}", byte_vocab))
    assert checker.is_completable([b"12", Hole(tokens=2), b"4567"])
    assert not checker.is_completable([b"12", Hole(tokens=3), b"4567"])
    assert checker.is_completable([Hole(max_tokens=8)])
    assert not checker.is_completable([Hole(max_tokens=7)])


@pytest.fixture(scope="module")
def gpt2_json() -> Checker:
    from constrain.bundled_tokenizers import load_bundled_tokenizer

    try:
        tokenizer = load_bundled_tokenizer("gpt2")
    except VocabularyError as error:
        pytest.skip(str(error))
    return Checker(constrain.compile_grammar(load_grammar("json"), Vocabulary.from_tokenizer(tokenizer)))


def test_real_vocabulary_unbounded_holes(gpt2_json):
    vocab = gpt2_json.vocab
    ids = vocab.tokenizer.encode('{"name": "Ada", "tags": [1, 2]}')
    assert gpt2_json.is_completable([ids[:3], Hole(), ids[-3:]])
    assert gpt2_json.is_completable([ids])
    assert not gpt2_json.is_completable([ids[:3], Hole(), ids[:1]])  # ends with '{'
    assert not gpt2_json.is_completable([ids, Hole(), ids])  # two top-level values need a separator


def test_real_vocabulary_bounded_holes(gpt2_json):
    encode = gpt2_json.vocab.tokenizer.encode
    # ':' and a whole value in one token: GPT-2 has only ':"', ':{' and ':[' of that kind
    assert not gpt2_json.is_completable([encode('{"a"'), Hole(tokens=1), encode("}")])
    assert gpt2_json.is_completable([encode('{"a"'), Hole(tokens=2), encode("}")])  # ':[' ']'
    assert gpt2_json.is_completable([encode("[1,"), Hole(max_tokens=2)])
    assert not gpt2_json.is_completable([encode("[1,"), Hole(max_tokens=0)])
