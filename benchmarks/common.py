"""Shared pieces of the benchmarks: engine adapters, timing statistics, plain-text tables.

Every benchmark drives constrain, llguidance and xgrammar the same way: compile a grammar,
compute a mask, check the next token against it, advance, and at the end check that EOS
is allowed. Hiding each engine behind the same small :class:`Session` interface keeps the
drivers engine-agnostic: another benchmark (MaskBench's JSON Schemas) only adds the
compile calls it needs, and a fourth engine is one more adapter function.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import llguidance
import llguidance.hf
import llguidance.numpy
import numpy as np
import xgrammar

import constrain

# --- engines ---------------------------------------------------------------------------------


class Session(ABC):
    """One matcher of one compiled grammar, and the int32 mask words it fills.

    Bit ``t % 32`` of ``words[t // 32]`` stands for token ``t`` in every engine, so the
    mask checks (``allows``, ``eos_allowed``) are shared and only computing the mask,
    advancing and resetting differ.
    """

    def __init__(self, words: np.ndarray, eos_token_id: int):
        self.words = words
        self.eos_token_id = eos_token_id

    @abstractmethod
    def fill_mask(self) -> None:
        """Compute the mask of the tokens allowed next into ``words``: the call benchmarks time."""

    @abstractmethod
    def advance(self, token: int) -> bool:
        """Consume ``token``; False when the engine refuses it."""

    @abstractmethod
    def reset(self) -> None:
        """Back to the start of the grammar, keeping whatever the engine caches per grammar."""

    def allows(self, token: int) -> bool:
        """Whether the last mask computed allows ``token``."""
        return bool((int(self.words[token >> 5]) >> (token & 31)) & 1)

    def eos_allowed(self) -> bool:
        return self.allows(self.eos_token_id)


@dataclass(frozen=True)
class Engine:
    """An engine bound to one vocabulary: ``compile(lark_text)`` gives a session at the start."""

    name: str
    compile: Callable[[str], Session]


class ConstrainSession(Session):
    def __init__(self, compiled: constrain.CompiledGrammar):
        super().__init__(compiled.vocab.allocate_bitmask(), compiled.vocab.eos_token_id)
        self._matcher = compiled.matcher()

    def fill_mask(self) -> None:
        self._matcher.fill_bitmask(self.words)

    def advance(self, token: int) -> bool:
        return self._matcher.advance(token)

    def reset(self) -> None:
        self._matcher.reset()


def constrain_engine(vocab: constrain.Vocabulary) -> Engine:
    return Engine("constrain", lambda text: ConstrainSession(constrain.compile_grammar(text, vocab)))


class LLGuidanceSession(Session):
    def __init__(self, matcher: llguidance.LLMatcher, tokenizer: llguidance.LLTokenizer):
        self._rows = llguidance.numpy.allocate_token_bitmask(1, tokenizer.vocab_size)
        super().__init__(self._rows[0], tokenizer.eos_token)
        self._matcher = matcher

    def fill_mask(self) -> None:
        llguidance.numpy.fill_next_token_bitmask(self._matcher, self._rows, 0)

    def advance(self, token: int) -> bool:
        return bool(self._matcher.consume_token(token)) and not self._matcher.is_error()

    def reset(self) -> None:
        self._matcher.reset()


def llguidance_engine(tokenizer: llguidance.LLTokenizer) -> Engine:
    """llguidance compiles when the matcher is made; a grammar it refuses raises ValueError."""

    def compile_lark(text: str) -> Session:
        matcher = llguidance.LLMatcher(tokenizer, llguidance.LLMatcher.grammar_from_lark(text))
        if matcher.is_error():
            raise ValueError(f"llguidance refused the grammar: {matcher.get_error()}")
        return LLGuidanceSession(matcher, tokenizer)

    return Engine("llguidance", compile_lark)


class XGrammarSession(Session):
    def __init__(self, compiled: xgrammar.CompiledGrammar, info: xgrammar.TokenizerInfo):
        self._tensor = xgrammar.allocate_token_bitmask(1, info.vocab_size)
        super().__init__(self._tensor[0].numpy(), info.stop_token_ids[0])
        self._matcher = xgrammar.GrammarMatcher(compiled)

    def fill_mask(self) -> None:
        self._matcher.fill_next_token_bitmask(self._tensor, 0)

    def advance(self, token: int) -> bool:
        return self._matcher.accept_token(token)

    def reset(self) -> None:
        self._matcher.reset()


def xgrammar_engine(info: xgrammar.TokenizerInfo, *, builtin_json: bool = False) -> Engine:
    """xgrammar reading the Lark text, or, with ``builtin_json``, its own hand-tuned JSON grammar.

    The compiler's cache is off so that every compilation is measured in full; the builtin
    variant ignores the text, so it is only meaningful for grammars of JSON.
    """
    compiler = xgrammar.GrammarCompiler(info, cache_enabled=False)

    def compile_lark(text: str) -> Session:
        if builtin_json:
            grammar = xgrammar.Grammar.builtin_json_grammar()
        else:
            grammar = xgrammar.Grammar.from_lark(text)
        return XGrammarSession(compiler.compile_grammar(grammar), info)

    return Engine("xgrammar-builtin-json" if builtin_json else "xgrammar", compile_lark)


ENGINE_NAMES = ("constrain", "llguidance", "xgrammar", "xgrammar-builtin-json")


def make_engines(tokenizer: Any, names: Sequence[str]) -> dict[str, Engine]:
    """The engines ``names`` (from ENGINE_NAMES) over a transformers tokenizer's vocabulary.

    Each engine's vocabulary preprocessing runs once here, shared by its variants.
    """
    unknown = set(names) - set(ENGINE_NAMES)
    if unknown:
        raise ValueError(f"unknown engines {sorted(unknown)}; known: {', '.join(ENGINE_NAMES)}")
    engines: dict[str, Engine] = {}
    if "constrain" in names:
        engines["constrain"] = constrain_engine(constrain.Vocabulary.from_tokenizer(tokenizer))
    if "llguidance" in names:
        engines["llguidance"] = llguidance_engine(llguidance.hf.from_tokenizer(tokenizer))
    if {"xgrammar", "xgrammar-builtin-json"} & set(names):
        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer)
        for name in ("xgrammar", "xgrammar-builtin-json"):
            if name in names:
                engines[name] = xgrammar_engine(info, builtin_json=name == "xgrammar-builtin-json")
    return {name: engines[name] for name in names}


def text_token_words(vocab: constrain.Vocabulary) -> np.ndarray:
    """int32 mask words with the bits of the tokens that stand for text set.

    Engines disagree on which special tokens they list as stop tokens; comparing masks
    only over text tokens keeps that difference out of the comparison.
    """
    bits = np.zeros(len(vocab.allocate_bitmask()) * 32, dtype=np.uint8)
    bits[[token for token, data in enumerate(vocab.token_bytes) if data]] = 1
    return np.packbits(bits, bitorder="little").view(np.int32)


def mask_digest(words: np.ndarray, keep: np.ndarray) -> int:
    """A hash of the mask restricted to ``keep``: equal digests mean equal token sets."""
    return hash((words[: len(keep)] & keep).tobytes())


# --- statistics and tables --------------------------------------------------------------------


def latency_summary(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50, p99, max and mean in microseconds (linear-interpolated percentiles), and the count."""
    if not samples_ns:
        return {"n": 0, **dict.fromkeys(("p50_us", "p99_us", "max_us", "mean_us"), float("nan"))}
    micros = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return {
        "n": len(micros),
        "p50_us": float(np.percentile(micros, 50)),
        "p99_us": float(np.percentile(micros, 99)),
        "max_us": float(micros.max()),
        "mean_us": float(micros.mean()),
    }


def format_number(value: object) -> str:
    """Three significant figures or so for floats, "-" for None and NaN, else ``str``."""
    if value is None:
        return "-"
    if not isinstance(value, float):
        return str(value)
    if value != value:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: text columns left-aligned, numeric ones (None shown as "-") right-aligned."""
    cells = [[format_number(value) for value in row] for row in rows]
    numeric = [all(isinstance(row[i], int | float | None) for row in rows) for i in range(len(headers))]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    return "\n".join([title, rule, line(headers), rule, *(line(row) for row in cells), rule])


# --- measurements in fresh processes ----------------------------------------------------------


def run_python_json(
    code: str, env: Mapping[str, str] | None = None, timeout: float = 300.0
) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter and parse the JSON object it prints last.

    Costs paid once per process (imports, JIT loading, disk caches) can only be measured in
    a process that has not paid them yet.
    """
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"measurement subprocess failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])
