"""The one-call surface: ``constrain.json``, ``regex``, ``grammar`` and ``choice``.

Each call takes a model in whatever form the user has at hand (``"default"``, a path, a
transformers model, a ``(model, tokenizer)`` pair), checks the constraint *before* loading
anything (a bad schema should not cost a model load), compiles it against the model's
vocabulary through a process-wide LRU cache, generates, and returns a Python value rather
than a :class:`~constrain.generation.GenerationResult`: the parsed and validated object for
JSON, the text otherwise. ``constrain.generate`` remains the lower-level call.
"""

from __future__ import annotations

import inspect
import json as json_lib
import os
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from constrain.compiled_grammar import CompiledGrammar, compile_ir
from constrain.errors import ConstrainError, SchemaError
from constrain.grammars import load_grammar
from constrain.ir import Grammar, regex_grammar
from constrain.json_schema import schema_to_grammar
from constrain.lark_frontend import grammar_from_lark
from constrain.prompts import generation_prompt
from constrain.regex_parse import parse_regex
from constrain.vocabulary import Vocabulary

if TYPE_CHECKING:
    from constrain.generation import GenerationResult

__all__ = [
    "OutputValidationError",
    "choice",
    "grammar",
    "json",
    "lark_constraint",
    "regex",
    "regex_constraint",
    "resolve_model",
    "run_constrained",
    "schema_document",
    "vocabulary_of",
]

_CACHE_SIZE = 64
ModelSpec = Any  # "default", a path, a transformers model, or a (model, tokenizer) pair


class OutputValidationError(ConstrainError, ValueError):
    """A generated output that does not validate; the grammar should make this impossible."""

    def __init__(self, message: str, *, text: str):
        self.text = text
        super().__init__(message)


class _LRU:
    """A small thread-safe least-recently-used map; values are built outside the lock."""

    def __init__(self, size: int):
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# Constraint text -> grammar IR (checked, vocabulary-free) and (text, vocabulary) -> compiled.
_IR_CACHE = _LRU(_CACHE_SIZE)
_COMPILED_CACHE = _LRU(_CACHE_SIZE)
_VOCABULARIES = _LRU(8)  # id(tokenizer) -> (tokenizer, vocabulary): from_tokenizer costs ~0.1 s
_LOADED_MODELS = _LRU(4)  # name or path -> (model, tokenizer), loaded once per process
_TOKENIZERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # model -> its tokenizer


def clear_caches() -> None:
    """Forget compiled grammars and loaded models (tests; freeing memory)."""
    for cache in (_IR_CACHE, _COMPILED_CACHE, _VOCABULARIES, _LOADED_MODELS):
        cache.clear()
    _TOKENIZERS.clear()


# ---------------------------------------------------------------------------- models


def resolve_model(model: ModelSpec, tokenizer: Any = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from any accepted model form; loads by name or path once per process.

    A bare transformers model's tokenizer is the one it was loaded with here, else read
    from ``model.name_or_path``. Raises :class:`~constrain.models.ModelLoadError`.
    """
    from constrain.models import ModelLoadError, load_model

    if isinstance(model, str | os.PathLike):
        key = os.fspath(model)
        loaded = _LOADED_MODELS.get(key, lambda: load_model(key))
        _TOKENIZERS[loaded[0]] = loaded[1]
        return loaded[0], tokenizer if tokenizer is not None else loaded[1]
    if isinstance(model, tuple | list):
        if len(model) != 2:
            raise ModelLoadError(f"a model pair must be (model, tokenizer), got {len(model)} items")
        return model[0], tokenizer if tokenizer is not None else model[1]
    if not callable(model) or not hasattr(model, "config"):
        raise ModelLoadError(
            f"cannot use a {type(model).__name__} as a model: pass 'default', a model directory, a "
            "transformers model or a (model, tokenizer) pair"
        )
    if tokenizer is not None:
        return model, tokenizer
    known = _TOKENIZERS.get(model)
    return model, known if known is not None else _tokenizer_of(model)


def _tokenizer_of(model: Any) -> Any:
    from transformers import AutoTokenizer

    from constrain.models import ModelLoadError, default_model_dir, load_default_model

    source = getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "")
    if source and Path(source) == default_model_dir():
        return load_default_model()[1]  # its tokenizer may live in the GGUF file, not the directory
    try:
        return AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"cannot find the tokenizer of this model (name_or_path {source!r}); pass tokenizer=... "
            "or a (model, tokenizer) pair"
        ) from error


def vocabulary_of(tokenizer: Any) -> Vocabulary:
    """The tokenizer's vocabulary, built once per tokenizer object in this process.

    The entry holds the tokenizer itself, so its ``id`` cannot be reused while cached.
    """
    return _VOCABULARIES.get(id(tokenizer), lambda: (tokenizer, Vocabulary.from_tokenizer(tokenizer)))[1]


def _compiled(key: Hashable, ir: Grammar, tokenizer: Any) -> CompiledGrammar:
    vocab = vocabulary_of(tokenizer)
    return _COMPILED_CACHE.get((key, vocab.fingerprint), lambda: compile_ir(ir, vocab))


def run_constrained(
    model: ModelSpec, tokenizer: Any, prompt: Any, key: Hashable, ir: Grammar, sampling: dict[str, Any]
) -> GenerationResult:
    """Generate with grammar ``ir`` (cached under ``key`` per vocabulary): the shared last step."""
    from constrain.generation import generate

    check_sampling_options(sampling)
    model, tokenizer = resolve_model(model, tokenizer)
    compiled = _compiled(key, ir, tokenizer)
    return generate(model, tokenizer, prompt, compiled, **sampling)


def check_sampling_options(sampling: dict[str, Any]) -> None:
    """TypeError naming the options :func:`constrain.generate` does not take, before any model load."""
    from constrain.generation import generate

    accepted = list(inspect.signature(generate).parameters)[4:]  # after model, tokenizer, prompt, grammar
    unknown = sorted(set(sampling) - set(accepted))
    if unknown:
        raise TypeError(f"unknown sampling options {', '.join(unknown)}; accepted are {', '.join(accepted)}")


# ---------------------------------------------------------------------------- JSON


def schema_document(schema: Any) -> tuple[Any, type | None]:
    """The schema as parsed JSON, and the Pydantic class it came from (or None).

    Accepts a dict or bool, JSON text, or a Pydantic model class; SchemaError otherwise.
    """
    if isinstance(schema, type) and hasattr(schema, "model_json_schema"):
        return schema.model_json_schema(), schema
    if isinstance(schema, dict | bool):
        return schema, None
    if isinstance(schema, str | bytes):
        try:
            return json_lib.loads(schema), None
        except json_lib.JSONDecodeError as error:
            raise SchemaError(f"the schema is not valid JSON: {error}") from None
    raise SchemaError(
        f"a schema must be a dict, a bool, JSON text or a Pydantic model class, not {type(schema).__name__}"
    )


def json_schema_options(
    whitespace: str = "flexible",
    max_whitespace: int = 20,
    additional_properties: bool = False,
    lenient: bool = False,
) -> dict[str, Any]:
    """The schema compiler's options for :func:`json`'s keyword arguments."""
    return {
        "whitespace": whitespace,
        "max_whitespace": max_whitespace,
        "lenient": lenient,
        "additional_properties_default": additional_properties,
    }


def schema_grammar(document: Any, options: dict[str, Any]) -> tuple[Hashable, Grammar]:
    """Cache key and checked grammar IR of a parsed schema (raises the schema errors)."""
    key = ("json", json_lib.dumps(document, ensure_ascii=False), tuple(sorted(options.items())))
    return key, _IR_CACHE.get(key, lambda: schema_to_grammar(document, **options))


def json(
    model: ModelSpec,
    schema: Any,
    prompt: str | Sequence[dict[str, str]] | None = None,
    *,
    tokenizer: Any = None,
    whitespace: str = "flexible",
    max_whitespace: int = 20,
    additional_properties: bool = False,
    lenient: bool = False,
    **sampling: Any,
) -> Any:
    """Generate one JSON value of ``schema`` and return it parsed and validated.

    ``schema``: a dict, JSON text or a Pydantic model class (then a model instance is
    returned). Without ``prompt``, one is built from the schema's titles, descriptions and
    examples. Objects that declare properties are closed unless the schema says otherwise
    (``additional_properties=True`` restores JSON Schema's open default). ``sampling`` goes
    to :func:`constrain.generate` (``max_new_tokens``, ``temperature``, ``seed``, ``sampler``...).

    The schema is checked before the model is loaded: SchemaError, UnsupportedSchemaError and
    UnsatisfiableSchemaError come first; IncompleteOutputError if the tokens run out.
    """
    document, model_class = schema_document(schema)
    options = json_schema_options(whitespace, max_whitespace, additional_properties, lenient)
    key, ir = schema_grammar(document, options)
    text = run_constrained(model, tokenizer, prompt or generation_prompt(document), key, ir, sampling).text
    return parse_json_output(text, document, model_class)


def parse_json_output(text: str, document: Any, model_class: type | None) -> Any:
    """The generated text parsed, validated by Pydantic (an instance) or jsonschema if available."""
    if model_class is not None:
        from pydantic import ValidationError

        try:
            return model_class.model_validate_json(text)
        except ValidationError as error:
            raise OutputValidationError(f"the output does not validate: {error}", text=text) from None
    try:
        value = json_lib.loads(text)
    except json_lib.JSONDecodeError as error:
        raise OutputValidationError(f"the output is not JSON: {error}", text=text) from None
    _validate(value, document, text)
    return value


def _validate(value: Any, document: Any, text: str) -> None:
    try:
        import jsonschema
    except ImportError:  # optional: the grammar already admits only instances
        return
    try:
        jsonschema.validate(value, document)
    except jsonschema.ValidationError as error:
        raise OutputValidationError(f"the output does not validate: {error.message}", text=text) from None


# ---------------------------------------------------------------------------- text constraints


def regex(
    model: ModelSpec,
    pattern: str,
    prompt: str | Sequence[dict[str, str]],
    *,
    tokenizer: Any = None,
    **sampling: Any,
) -> str:
    """Generate a text matching ``pattern`` in full (Python ``re`` syntax); GrammarError first if bad."""
    key, ir = regex_constraint(pattern)
    return run_constrained(model, tokenizer, prompt, key, ir, sampling).text


def regex_constraint(pattern: str) -> tuple[Hashable, Grammar]:
    """Cache key and grammar IR of a regex; GrammarError if it does not parse."""
    parse_regex(pattern)
    key = ("regex", pattern)
    return key, _IR_CACHE.get(key, lambda: regex_grammar(pattern))


def grammar(
    model: ModelSpec,
    grammar: str | os.PathLike[str],
    prompt: str | Sequence[dict[str, str]],
    *,
    tokenizer: Any = None,
    start: str = "start",
    **sampling: Any,
) -> str:
    """Generate a word of a Lark grammar: its text, a ``.lark`` file, or a bundled name (``"sql"``)."""
    key, ir = lark_constraint(grammar, start)
    return run_constrained(model, tokenizer, prompt, key, ir, sampling).text


def lark_constraint(grammar: str | os.PathLike[str], start: str = "start") -> tuple[Hashable, Grammar]:
    """Cache key and grammar IR of Lark text, a ``.lark`` file or a bundled grammar name."""
    text = grammar_text(grammar)
    key = ("lark", text, start)
    return key, _IR_CACHE.get(key, lambda: grammar_from_lark(text, start))


def grammar_text(grammar: str | os.PathLike[str]) -> str:
    """Lark text as given, or read from a bundled grammar name or a file path."""
    if isinstance(grammar, str) and not grammar.endswith(".lark") and ("\n" in grammar or ":" in grammar):
        return grammar  # Lark text: every grammar has a rule, so a colon
    return load_grammar(grammar)  # GrammarError naming the bundled grammars if unknown


def choice(
    model: ModelSpec,
    choices: Sequence[str],
    prompt: str | Sequence[dict[str, str]],
    *,
    tokenizer: Any = None,
    **sampling: Any,
) -> str:
    """Generate exactly one of ``choices`` (strings)."""
    options = list(choices)
    if not options or not all(isinstance(c, str) and c for c in options):
        raise ConstrainError(f"choices must be a non-empty list of non-empty strings, got {choices!r}")
    key, ir = regex_constraint("|".join(re.escape(c) for c in options))
    return run_constrained(model, tokenizer, prompt, key, ir, sampling).text
