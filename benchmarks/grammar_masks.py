"""Side-by-side benchmark of the core engine: token masks for the bundled Lark grammars.

constrain, llguidance and xgrammar are driven through the tokens of the same realistic
texts (``grammar_texts.py``) with the same vocabulary, all in one run: on a shared machine
only ratios measured together mean anything. For every grammar and engine it reports
mask latency (p50/p99/max) on the first pass over the texts (cold caches) and on the
passes after it (warm), whether every token was allowed and EOS at the end, how many masks
differ from constrain's, and the compile time up to the first mask. It also measures
vocabulary preprocessing and the one-time import and JIT-load cost of a fresh process.

Usage: python benchmarks/grammar_masks.py [--tokenizer llama3] [--grammars json,sql] [--repeat N]
Tables go to stdout, everything measured to benchmarks/results/grammar_masks.json.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import resource
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    Engine,
    Session,
    latency_summary,
    make_engines,
    mask_digest,
    render_table,
    run_python_json,
    text_token_words,
)
from grammar_texts import TEXTS
from lark import Lark

import constrain
from constrain.bundled_tokenizers import load_bundled_tokenizer
from constrain.grammars import load_grammar

BENCHMARKS = Path(__file__).resolve().parent
RESULTS = BENCHMARKS / "results" / "grammar_masks.json"
ENGINES = ("constrain", "llguidance", "xgrammar")
EXTRA_ENGINES = {"json": ("xgrammar-builtin-json",)}  # variants that only make sense for one grammar

# Compiled once per engine before anything is timed, so that the first measured compile
# does not pay for loading native code (Numba's disk cache, say).
THROWAWAY_GRAMMAR = (
    'start: item ("," item)*\nitem: WORD | NUMBER\nWORD: /[a-z]+/\nNUMBER: /[0-9]+/\n%ignore " "\n'
)

# Each engine's vocabulary preprocessing: (module to import first, statement to time).
VOCABULARY_STEPS = {
    "constrain": ("constrain", "constrain.Vocabulary.from_tokenizer(tok)"),
    "llguidance": ("llguidance.hf", "llguidance.hf.from_tokenizer(tok)"),
    "xgrammar": ("xgrammar", "xgrammar.TokenizerInfo.from_huggingface(tok)"),
}

# --- one-time costs, each measured in a fresh process -------------------------------------------

_STARTUP_PROBE = """
import json, sys, time
started = time.perf_counter()
import {module}
import_s = time.perf_counter() - started
sys.path.insert(0, {benchmarks!r})
import common
from constrain.bundled_tokenizers import load_bundled_tokenizer
engine = common.make_engines(load_bundled_tokenizer({tokenizer!r}), [{engine!r}])[{engine!r}]
uses = []
for _ in range(2):
    started = time.perf_counter()
    engine.compile({grammar!r}).fill_mask()
    uses.append(time.perf_counter() - started)
numba = None
if {engine!r} == "constrain":
    from constrain.native.trie_walk import _walk  # the mask kernel: was it loaded or compiled?
    numba = {{"cache_hits": sum(_walk.stats.cache_hits.values()),
              "cache_misses": sum(_walk.stats.cache_misses.values())}}
print(json.dumps({{"import_s": import_s, "first_use_s": uses[0], "second_use_s": uses[1], "numba": numba}}))
"""

_VOCABULARY_PROBE = """
import json, time
from constrain.bundled_tokenizers import load_bundled_tokenizer
tok = load_bundled_tokenizer({tokenizer!r})
import {module}
started = time.perf_counter()
{step}
print(json.dumps({{"seconds": time.perf_counter() - started}}))
"""


def measure_startup(tokenizer: str) -> list[dict[str, Any]]:
    """Import time, then compile + first mask of a small grammar twice, in a fresh process.

    The first use pays what a process pays once (for constrain: loading the Numba kernel
    from its disk cache, or compiling it when the cache is missing); the difference to the
    second is that one-time cost.
    """
    rows = []
    for engine in ENGINES:
        probe = _STARTUP_PROBE.format(
            module=engine,
            benchmarks=str(BENCHMARKS),
            tokenizer=tokenizer,
            engine=engine,
            grammar=THROWAWAY_GRAMMAR,
        )
        rows.append({"engine": engine, **run_python_json(probe)})
    return rows


def measure_vocabulary(tokenizer: str) -> list[dict[str, Any]]:
    """Vocabulary preprocessing per engine; constrain with an empty, then a filled disk cache."""

    def probe(engine: str, env: dict[str, str] | None = None) -> float:
        module, step = VOCABULARY_STEPS[engine]
        code = _VOCABULARY_PROBE.format(tokenizer=tokenizer, module=module, step=step)
        return run_python_json(code, env)["seconds"]

    with tempfile.TemporaryDirectory(prefix="constrain-bench-cache-") as cache:
        env = {"CONSTRAIN_CACHE_DIR": cache}
        rows = [
            {"engine": "constrain", "case": "cold (empty disk cache)", "seconds": probe("constrain", env)},
            {"engine": "constrain", "case": "cached (disk cache filled)", "seconds": probe("constrain", env)},
        ]
    rows.append({"engine": "llguidance", "case": "no cache", "seconds": probe("llguidance")})
    rows.append({"engine": "xgrammar", "case": "no cache", "seconds": probe("xgrammar")})
    return rows


# --- driving engines through texts -----------------------------------------------------------------


@dataclass
class Trace:
    """One engine driven once through the tokens of one text."""

    mask_ns: list[int] = field(default_factory=list)
    advance_ns: list[int] = field(default_factory=list)
    digests: list[int] = field(default_factory=list)
    rejected_at: int | None = None  # position of the first token the engine refused
    eos_allowed: bool = False


def drive(session: Session, tokens: list[int], keep: np.ndarray) -> Trace:
    """Mask, check, advance for every token, then one last mask that must allow EOS.

    Only ``fill_mask`` (and separately ``advance``) is inside the timer; the checks and the
    digest used to compare engines' masks are outside. An engine that raises (out of time or
    memory, say) is reported as an :class:`EngineFailure` naming the token it was at.
    """
    trace = Trace()
    position = 0
    try:
        session.reset()
        for position, token in enumerate(tokens):
            timed_mask(session, trace, keep)
            if not session.allows(token):
                trace.rejected_at = position
                return trace
            started = time.perf_counter_ns()
            accepted = session.advance(token)
            trace.advance_ns.append(time.perf_counter_ns() - started)
            if not accepted:
                trace.rejected_at = position
                return trace
        position = len(tokens)
        timed_mask(session, trace, keep)
    except Exception as error:  # MemoryError included
        raise EngineFailure(f"{type(error).__name__} at token {position}: {error}") from None
    trace.eos_allowed = session.eos_allowed()
    return trace


def timed_mask(session: Session, trace: Trace, keep: np.ndarray) -> None:
    started = time.perf_counter_ns()
    session.fill_mask()
    trace.mask_ns.append(time.perf_counter_ns() - started)
    trace.digests.append(mask_digest(session.words, keep))


def compile_timed(engine: Engine, grammar: str) -> tuple[Session, float]:
    """A fresh session and the milliseconds until its first mask was ready."""
    started = time.perf_counter_ns()
    session = engine.compile(grammar)
    session.fill_mask()
    return session, (time.perf_counter_ns() - started) / 1e6


class EngineFailure(Exception):
    """An engine refused a grammar, raised, or ran out of time or memory: a result to report."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the block once it has run ``seconds`` (checked between bytecodes)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class EngineRun:
    """Everything measured for one engine on one grammar."""

    compile_ms: list[float] = field(default_factory=list)
    passes: list[list[Trace]] = field(default_factory=list)  # passes[0] is cold; one trace per text
    error: str | None = None


def run_grammar(
    name: str,
    engines: dict[str, Engine],
    tokens: list[list[int]],
    keep: np.ndarray,
    options: argparse.Namespace,
) -> dict[str, EngineRun]:
    """Compile ``options.repeat`` times per engine, then one cold and ``options.repeat`` warm passes.

    Within a pass the engines take turns text by text, in an order rotating with the text,
    so slow drift of the machine spreads over all of them. An engine that fails is left out
    from then on, and its caches are freed.
    """
    grammar = load_grammar(name)
    runs = {engine: EngineRun() for engine in engines}
    sessions: dict[str, Session] = {}
    for engine_name, engine in engines.items():
        try:
            with time_limit(options.time_limit):
                for _ in range(options.repeat):
                    sessions[engine_name], elapsed = compile_timed(engine, grammar)
                    runs[engine_name].compile_ms.append(elapsed)
        except Exception as error:  # MemoryError included
            runs[engine_name].error = f"compile: {type(error).__name__}: {error}"
            sessions.pop(engine_name, None)
    for number in range(1 + options.repeat):
        gc.collect()
        traces: dict[str, list[Trace]] = {engine: [] for engine in sessions}
        for index, text_tokens in enumerate(tokens):
            order = list(sessions)
            for engine_name in order[index % len(order) :] + order[: index % len(order)]:
                try:
                    with time_limit(options.time_limit):
                        traces[engine_name].append(drive(sessions[engine_name], text_tokens, keep))
                except (EngineFailure, TimeoutError) as error:
                    runs[engine_name].error = f"pass {number}, text {index}: {error}"
                    del sessions[engine_name], traces[engine_name]
                    gc.collect()
        for engine_name, engine_traces in traces.items():
            runs[engine_name].passes.append(engine_traces)
    return runs


def tokenize_texts(name: str, tokenizer: Any, token_bytes: tuple[bytes, ...]) -> list[list[int]]:
    """Token ids of each text; the texts must be in the grammar's language (Lark decides)."""
    parser = Lark(load_grammar(name), parser="earley", lexer="dynamic_complete")
    result = []
    for index, text in enumerate(TEXTS[name]):
        parser.parse(text)  # raises on a text outside the language: fix the text, not the benchmark
        ids = tokenizer.encode(text, add_special_tokens=False)
        if b"".join(token_bytes[token] for token in ids) != text.encode():
            raise ValueError(f"{name} text {index}: the tokens do not spell the text")
        result.append(ids)
    return result


# --- summaries ------------------------------------------------------------------------------------


def summarize(runs: dict[str, EngineRun], tokens: list[list[int]]) -> dict[str, Any]:
    """Per engine: compile times, cold and warm latencies, correctness, agreement with constrain."""
    reference = runs.get("constrain")
    reference_masks = reference.passes[0] if reference is not None and reference.error is None else None
    summary: dict[str, Any] = {}
    for engine_name, run in runs.items():
        if run.error is not None:
            summary[engine_name] = {"error": run.error, "compile_ms": run.compile_ms}
            continue
        cold, warm = run.passes[0], [trace for later in run.passes[1:] for trace in later]
        summary[engine_name] = {
            "compile_ms": run.compile_ms,
            "tokens": sum(len(trace.advance_ns) for trace in cold),
            "cold": latency_summary([ns for trace in cold for ns in trace.mask_ns]),
            "cold_total_ms": sum(ns for trace in cold for ns in trace.mask_ns) / 1e6,
            "warm": latency_summary([ns for trace in warm for ns in trace.mask_ns]),
            "advance_warm": latency_summary([ns for trace in warm for ns in trace.advance_ns]),
            "rejections": _rejections(run.passes, tokens),
            "texts_without_eos": sum(
                trace.rejected_at is None and not trace.eos_allowed
                for traces in run.passes
                for trace in traces
            ),
            "warm_masks_differ_from_cold": sum(
                later.digests != first.digests
                for traces in run.passes[1:]
                for first, later in zip(cold, traces, strict=True)
            ),
            "masks_differing_from_constrain": (
                None if reference_masks is None else _disagreements(cold, reference_masks)
            ),
        }
    return summary


def _rejections(passes: list[list[Trace]], tokens: list[list[int]]) -> list[dict[str, int]]:
    return [
        {
            "pass": number,
            "text": text,
            "position": trace.rejected_at,
            "token": tokens[text][trace.rejected_at],
        }
        for number, traces in enumerate(passes)
        for text, trace in enumerate(traces)
        if trace.rejected_at is not None
    ]


def _disagreements(traces: list[Trace], reference: list[Trace]) -> int:
    """Positions where both engines computed a mask and the text-token sets differ."""
    return sum(
        mine != theirs
        for trace, other in zip(traces, reference, strict=True)
        for mine, theirs in zip(trace.digests, other.digests, strict=False)
    )


def verdict(result: dict[str, Any]) -> str:
    problems = []
    if result["rejections"]:
        texts = sorted({rejection["text"] for rejection in result["rejections"]})
        problems.append(f"rejects texts {texts}")
    if result["texts_without_eos"]:
        problems.append(f"no EOS x{result['texts_without_eos']}")
    if result["warm_masks_differ_from_cold"]:
        problems.append("warm!=cold")
    return "; ".join(problems) or "yes"


def mask_table(results: dict[str, dict[str, Any]]) -> str:
    headers = ["grammar", "engine", "tokens", "cold p50", "cold p99", "cold max", "cold sum ms",
               "warm p50", "warm p99", "warm max", "adv p50", "all ok", "!=constrain"]  # fmt: skip
    rows = []
    notes = [
        "tokens: consumed on the cold pass; cold sum: all cold masks; adv p50: advance (warm);",
        "all ok: every token allowed and EOS at the end; !=constrain: masks whose text tokens differ",
    ]
    for grammar, engines in results.items():
        for engine_name, result in engines.items():
            if "error" in result:
                rows.append([grammar, engine_name, *[None] * 9, "FAILED, see below", None])
                notes.append(f"FAILED: {engine_name} on {grammar}: {result['error']}")
                continue
            cold, warm = result["cold"], result["warm"]
            rows.append([
                grammar, engine_name, result["tokens"],
                cold["p50_us"], cold["p99_us"], cold["max_us"], result["cold_total_ms"],
                warm["p50_us"], warm["p99_us"], warm["max_us"], result["advance_warm"]["p50_us"],
                verdict(result), result["masks_differing_from_constrain"],
            ])  # fmt: skip
    title = "Mask latency (us; cold = first pass, warm = later passes)"
    return "\n".join([render_table(title, headers, rows), *notes])


def compile_table(results: dict[str, dict[str, Any]]) -> str:
    headers = ["grammar", "engine", "median ms", "min ms", "max ms", "runs"]
    rows = [
        [grammar, engine_name, float(np.median(times)), min(times), max(times), len(times)]
        for grammar, engines in results.items()
        for engine_name, result in engines.items()
        if (times := result.get("compile_ms"))
    ]
    return render_table("Grammar compile time, up to the first mask", headers, rows)


def vocabulary_table(rows: list[dict[str, Any]]) -> str:
    return render_table(
        "Vocabulary preprocessing (fresh process each)",
        ["engine", "case", "seconds"],
        [[row["engine"], row["case"], row["seconds"]] for row in rows],
    )


def startup_table(rows: list[dict[str, Any]]) -> str:
    def note(row: dict[str, Any]) -> str:
        numba = row["numba"]
        if numba is None:
            return ""
        return (
            "numba kernel compiled (cache miss)"
            if numba["cache_misses"]
            else "numba kernel loaded from cache"
        )

    return render_table(
        "One-time costs in a fresh process (s): import, then compile + first mask of a small grammar twice",
        ["engine", "import", "first use", "second use", "one-time load", "note"],
        [
            [
                row["engine"],
                row["import_s"],
                row["first_use_s"],
                row["second_use_s"],
                row["first_use_s"] - row["second_use_s"],
                note(row),
            ]
            for row in rows
        ],
    )


def environment(tokenizer: str, vocab_size: int, repeat: int) -> dict[str, Any]:
    packages = ("constrain", "llguidance", "xgrammar", "numba", "numpy", "transformers", "torch", "lark")
    return {
        "tokenizer": tokenizer,
        "vocab_size": vocab_size,
        "repeat": repeat,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "versions": {name: importlib.metadata.version(name) for name in packages},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--tokenizer", default="llama3", help="bundled tokenizer (default llama3)")
    arguments.add_argument("--grammars", default=",".join(TEXTS), help="comma-separated bundled grammars")
    arguments.add_argument("--repeat", type=int, default=2, help="compilations and warm passes per grammar")
    arguments.add_argument(
        "--time-limit",
        type=float,
        default=300.0,
        help="seconds per engine and text, and for its compilations",
    )
    arguments.add_argument(
        "--memory-limit", type=float, default=8.0, help="GiB of address space, then MemoryError"
    )
    options = arguments.parse_args()
    grammars = [name.strip() for name in options.grammars.split(",") if name.strip()]
    unknown = [name for name in grammars if name not in TEXTS]
    if unknown or options.repeat < 1:
        arguments.error(f"no texts for {unknown}; known: {', '.join(TEXTS)}" if unknown else "--repeat >= 1")

    limit = int(options.memory_limit * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    startup = measure_startup(options.tokenizer)
    print(startup_table(startup), end="\n\n", flush=True)
    vocabulary = measure_vocabulary(options.tokenizer)
    print(vocabulary_table(vocabulary), end="\n\n", flush=True)

    tokenizer = load_bundled_tokenizer(options.tokenizer)
    vocab = constrain.Vocabulary.from_tokenizer(tokenizer)  # for the texts' bytes and the mask comparison
    keep = text_token_words(vocab)
    extra = tuple(sorted({engine for engines in EXTRA_ENGINES.values() for engine in engines}))
    engines = make_engines(tokenizer, ENGINES + extra)
    for engine in engines.values():
        engine.compile(THROWAWAY_GRAMMAR).fill_mask()

    results: dict[str, dict[str, Any]] = {}
    texts: dict[str, list[int]] = {}
    for name in grammars:
        tokens = tokenize_texts(name, tokenizer, vocab.token_bytes)
        texts[name] = [len(ids) for ids in tokens]
        chosen = {engine: engines[engine] for engine in ENGINES + EXTRA_ENGINES.get(name, ())}
        results[name] = summarize(run_grammar(name, chosen, tokens, keep, options), tokens)
        print(f"{name}: {len(tokens)} texts, {sum(texts[name])} tokens done", flush=True)

    print()
    print(mask_table(results), end="\n\n")
    print(compile_table(results), end="\n\n")
    print(startup_table(startup), end="\n\n")
    print(vocabulary_table(vocabulary))
    report = {
        "environment": environment(options.tokenizer, vocab.size, options.repeat),
        "text_tokens": texts,
        "grammars": results,
        "startup": startup,
        "vocabulary": vocabulary,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(BENCHMARKS.parent)}")


if __name__ == "__main__":
    main()
