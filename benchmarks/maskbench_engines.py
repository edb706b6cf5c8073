"""JSON-Schema adapters for MaskBench: each engine compiles a schema dict into a common.Session.

The grammar benchmark's adapters in common.py compile Lark text or a schema with each
engine's defaults; MaskBench asks every engine for the same JSON dialect instead (flexible
whitespace, no strict mode), so the compile calls live here while the sessions share the
``Session`` interface from common.py. Each factory takes the transformers tokenizer, pays
its vocabulary preprocessing once, and returns ``compile(schema) -> Session``; a schema the
engine refuses raises, and the driver records the exception's message as a compile error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.common import ConstrainSession, LLGuidanceSession, Session, XGrammarSession

SchemaCompiler = Callable[[Any], Session]


def constrain_compiler(tokenizer: Any, property_order: str = "any") -> SchemaCompiler:
    """constrain raises a ConstrainError subclass (UnsupportedSchemaError names the keyword).

    MaskBench serializes each instance in its own key order, and JSON objects are
    unordered, so the benchmark accepts any key order for objects with few properties
    (``property_order="any"``); the ``constrain_schema_order`` engine measures the
    generation default, keys in declaration order.
    """
    import constrain

    vocab = constrain.Vocabulary.from_tokenizer(tokenizer)

    def compile_schema(schema: Any) -> Session:
        compiled = constrain.compile_json_schema(
            schema, vocab, whitespace="flexible", max_whitespace=20, property_order=property_order
        )
        return ConstrainSession(compiled)

    return compile_schema


def llguidance_compiler(tokenizer: Any) -> SchemaCompiler:
    """llguidance compiles while the matcher is made and reports refusal as an error state."""
    import llguidance
    import llguidance.hf
    import llguidance.numpy

    ll_tokenizer = llguidance.hf.from_tokenizer(tokenizer)

    def compile_schema(schema: Any) -> Session:
        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            schema, defaults={"whitespace_flexible": True}
        )
        matcher = llguidance.LLMatcher(ll_tokenizer, grammar)
        if matcher.is_error():
            raise ValueError(matcher.get_error())
        return LLGuidanceSession(matcher, ll_tokenizer)

    return compile_schema


def xgrammar_compiler(tokenizer: Any) -> SchemaCompiler:
    """xgrammar with any whitespace and non-strict mode; its cache is off so every compile counts."""
    import xgrammar

    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    compiler = xgrammar.GrammarCompiler(info, cache_enabled=False)

    def compile_schema(schema: Any) -> Session:
        compiled = compiler.compile_json_schema(json.dumps(schema), any_whitespace=True, strict_mode=False)
        return XGrammarSession(compiled, info)

    return compile_schema


class _OutlinesSession(Session):
    """outlines-core's Guide walks a DFA; ``advance`` raises on a token outside the mask."""

    def __init__(self, guide: Any, words: np.ndarray, eos_token_id: int):
        super().__init__(words, eos_token_id)
        self._guide = guide

    def fill_mask(self) -> None:
        self.words[:] = 0
        self._guide.write_mask_into(self.words.ctypes.data, self.words.size, self.words.itemsize)

    def advance(self, token: int) -> bool:
        try:
            self._guide.advance(token)
        except ValueError:
            return False
        return True

    def reset(self) -> None:
        self._guide.reset()


def outlines_compiler(tokenizer: Any) -> SchemaCompiler:
    """outlines-core: schema -> regex -> token DFA (Index), over constrain's token bytes.

    Its own ``Vocabulary.from_pretrained`` downloads from the hub, so the vocabulary is
    built from the bytes constrain decodes, which is the same map for byte-level BPE.
    """
    import outlines_core

    import constrain

    vocab = constrain.Vocabulary.from_tokenizer(tokenizer)
    eos = vocab.eos_token_id
    token_ids: dict[bytes, list[int]] = {}
    for token, data in enumerate(vocab.token_bytes):
        if data and token != eos:
            token_ids.setdefault(bytes(data), []).append(token)
    oc_vocab = outlines_core.Vocabulary(eos, token_ids)

    def compile_schema(schema: Any) -> Session:
        regex = outlines_core.json_schema.build_regex_from_schema(json.dumps(schema))
        guide = outlines_core.Guide(outlines_core.Index(regex, oc_vocab))
        return _OutlinesSession(guide, vocab.allocate_bitmask(), eos)

    return compile_schema


SCHEMA_COMPILERS: dict[str, Callable[[Any], SchemaCompiler]] = {
    "constrain": constrain_compiler,
    "constrain_schema_order": lambda tokenizer: constrain_compiler(tokenizer, property_order="schema"),
    "llguidance": llguidance_compiler,
    "xgrammar": xgrammar_compiler,
    "outlines": outlines_compiler,
}
