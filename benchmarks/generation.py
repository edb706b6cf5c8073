"""Constrained generation with SmolLM2 on CPU: our samplers against unconstrained decoding and
the llguidance and xgrammar logits processors, side by side in one run.

For each JSON Schema (same prompt, same ``max_new_tokens`` for every method) it runs:

* unconstrained decoding, in a loop like ours (KV cache, one token per forward) and through
  ``model.generate``;
* ``constrain.generate`` with ``sampler="mask"``, ``"awrs"`` and ``"smc"`` (N particles);
* ``model.generate`` with constrain's ``LogitsProcessor``, a small llguidance processor
  (``LLMatcher`` + ``fill_next_token_bitmask``) and ``xgrammar.contrib.hf.LogitsProcessor``.

Every grammar is compiled afresh for every run (compilation is timed apart), so each
generation starts with cold per-grammar caches. Times are per generated token (EOS included)
after subtracting the prompt's prefill, measured once per prompt; the methods run
round-robin, rotating the order each repeat, because on a shared machine only ratios
measured together mean anything. It also reports the matcher checks per sampled token
(AWRS's checks against the vocabulary size a full mask covers) and the share of
fast-forwarded tokens.

Usage: python benchmarks/generation.py [--schemas person,order,tags] [--repeats 2]
       [--max-new-tokens 64] [--particles 4] [--threads 1]
Tables go to stdout, the measurements to benchmarks/results/generation.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jsonschema
import llguidance
import llguidance.hf
import llguidance.torch
import torch
import transformers
import xgrammar
import xgrammar.contrib.hf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import render_table

import constrain
from constrain.errors import IncompleteOutputError
from constrain.generation import generate, prompt_token_ids

RESULTS = Path(__file__).resolve().parent / "results" / "generation.json"

SCHEMAS: dict[str, tuple[dict[str, Any], str]] = {
    "person": (
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 30},
                "age": {"type": "integer", "minimum": 0, "maximum": 150},
                "email": {"type": "string", "maxLength": 40},
            },
            "required": ["name", "age", "email"],
            "additionalProperties": False,
        },
        "Give a JSON object for a person with a name, an age and an email address.",
    ),
    "order": (
        {
            "type": "object",
            "properties": {
                "item": {"enum": ["apple", "banana", "cherry"]},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
                "express_delivery": {"type": "boolean"},
            },
            "required": ["item", "quantity", "express_delivery"],
            "additionalProperties": False,
        },
        "Give a JSON fruit order with an item, a quantity and express delivery yes or no.",
    ),
    "tags": (
        {"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 1, "maxItems": 4},
        "Give up to four short tags for a blog post about cooking pasta, as a JSON array of strings.",
    ),
}

CONSTRAINED_LOOP = ("mask", "awrs", "smc")
PROCESSORS = ("constrain processor", "llguidance processor", "xgrammar processor")


@dataclass
class Run:
    """One generation: tokens incl. EOS, decode seconds, and what the sampler did."""

    method: str
    schema: str
    tokens: int
    seconds: float
    compile_seconds: float = 0.0
    forced: int = 0
    checks: int = 0
    full_masks: int = 0
    sampled: int = 0
    valid: bool | None = None


@dataclass
class Engines:
    """Each engine's per-vocabulary state, prepared once (as a server would)."""

    model: Any
    tokenizer: Any
    vocab: constrain.Vocabulary
    ll_tokenizer: Any
    xgr_compiler: Any


class LLGuidanceProcessor(transformers.LogitsProcessor):
    """The straightforward HF processor for llguidance: consume the last token, fill, apply."""

    def __init__(self, matcher: llguidance.LLMatcher, vocab_size: int):
        self._matcher = matcher
        self._bitmask = llguidance.torch.allocate_token_bitmask(1, vocab_size)
        self._started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._started:
            self._matcher.consume_token(int(input_ids[0, -1]))
        self._started = True
        llguidance.torch.fill_next_token_bitmask(self._matcher, self._bitmask, 0)
        llguidance.torch.apply_token_bitmask_inplace(scores, self._bitmask)
        return scores


def unconstrained_loop(model: Any, prompt_ids: list[int], max_new_tokens: int, seed: int) -> int:
    """Plain sampling with a KV cache, shaped like constrain's loop; returns the tokens generated."""
    generator = torch.Generator().manual_seed(seed)
    pending, past = prompt_ids, None
    for _ in range(max_new_tokens):
        inputs = torch.tensor([pending], dtype=torch.long)
        output = model(input_ids=inputs, past_key_values=past, use_cache=True, logits_to_keep=1)
        past = output.past_key_values
        probabilities = torch.softmax(output.logits[0, -1].float(), dim=-1)
        pending = [int(torch.multinomial(probabilities, 1, generator=generator))]
    return max_new_tokens


def hf_generate(
    engines: Engines, prompt_ids: list[int], max_new_tokens: int, seed: int, processor: Any
) -> tuple[int, str]:
    """``model.generate`` with sampling and an optional processor: (new tokens incl. EOS, text)."""
    torch.manual_seed(seed)
    inputs = torch.tensor([prompt_ids], dtype=torch.long)
    output = engines.model.generate(
        input_ids=inputs,
        attention_mask=torch.ones_like(inputs),
        max_new_tokens=max_new_tokens,
        do_sample=True,
        top_k=0,
        logits_processor=[processor] if processor is not None else None,
        pad_token_id=engines.tokenizer.eos_token_id,
    )
    new = output[0, inputs.shape[1] :].tolist()
    return len(new), engines.tokenizer.decode(new, skip_special_tokens=True)


def run_method(
    method: str,
    schema_name: str,
    engines: Engines,
    prompt_ids: list[int],
    args: argparse.Namespace,
    seed: int,
) -> Run:
    """Compile (timed apart) and generate once with ``method``."""
    schema, prompt = SCHEMAS[schema_name]
    compile_started = time.perf_counter()
    make_processor = _compile(method, schema, engines)
    compile_seconds = time.perf_counter() - compile_started
    started = time.perf_counter()
    with torch.inference_mode():
        if method == "unconstrained loop":
            tokens = unconstrained_loop(engines.model, prompt_ids, args.max_new_tokens, seed)
            return Run(method, schema_name, tokens, time.perf_counter() - started)
        if method in CONSTRAINED_LOOP:
            try:
                result = generate(
                    engines.model,
                    engines.tokenizer,
                    prompt,
                    make_processor(),
                    sampler=method,
                    max_new_tokens=args.max_new_tokens,
                    seed=seed,
                    n_particles=args.particles,
                )
            except IncompleteOutputError as error:  # counted, as an invalid output without check counts
                seconds = time.perf_counter() - started
                return Run(method, schema_name, len(error.token_ids), seconds, compile_seconds, valid=False)
            seconds = time.perf_counter() - started
            tokens = len(result.token_ids) + (result.finish_reason == "eos")
            return Run(
                method,
                schema_name,
                tokens,
                seconds,
                compile_seconds,
                forced=result.n_forced_tokens,
                checks=result.n_checks,
                full_masks=result.n_full_masks,
                sampled=tokens - result.n_forced_tokens,
                valid=_valid(result.text, schema),
            )
        processor = make_processor() if method in PROCESSORS else None
        tokens, text = hf_generate(engines, prompt_ids, args.max_new_tokens, seed, processor)
        seconds = time.perf_counter() - started
        valid = _valid(text, schema) if processor is not None else None
        return Run(method, schema_name, tokens, seconds, compile_seconds, valid=valid)


def _compile(method: str, schema: dict[str, Any], engines: Engines) -> Callable[[], Any]:
    """Compile the schema for ``method``; returns what the generation needs, made on demand."""
    if method in CONSTRAINED_LOOP:
        grammar = constrain.compile_json_schema(schema, engines.vocab)
        return lambda: grammar
    if method == "constrain processor":
        grammar = constrain.compile_json_schema(schema, engines.vocab)
        return lambda: constrain.LogitsProcessor(grammar)
    if method == "llguidance processor":
        text = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": True})
        matcher = llguidance.LLMatcher(engines.ll_tokenizer, text)
        if matcher.is_error():
            raise RuntimeError(f"llguidance refused the schema: {matcher.get_error()}")
        return lambda: LLGuidanceProcessor(matcher, engines.ll_tokenizer.vocab_size)
    if method == "xgrammar processor":
        compiled = engines.xgr_compiler.compile_json_schema(json.dumps(schema), any_whitespace=True)
        return lambda: xgrammar.contrib.hf.LogitsProcessor(compiled)
    return lambda: None


def _valid(text: str, schema: dict[str, Any]) -> bool:
    try:
        jsonschema.validate(json.loads(text), schema)
    except (ValueError, jsonschema.ValidationError):
        return False
    return True


def prefill_seconds(model: Any, prompt_ids: list[int]) -> float:
    """Median time of the prompt's forward pass, subtracted from every generation of that prompt."""
    inputs = torch.tensor([prompt_ids], dtype=torch.long)
    samples = []
    with torch.inference_mode():
        for _ in range(3):
            started = time.perf_counter()
            model(input_ids=inputs, use_cache=True, logits_to_keep=1)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def summarize(runs: list[Run], prefill: dict[str, float], vocab_size: int) -> list[dict[str, Any]]:
    by_method: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_method[run.method].append(run)
    rows = []
    for method, group in by_method.items():
        tokens = sum(r.tokens for r in group)
        decode = sum(max(r.seconds - prefill[r.schema], 0.0) for r in group)
        sampled = sum(r.sampled for r in group)
        full_masks = sum(r.full_masks for r in group)
        rows.append(
            {
                "method": method,
                "runs": len(group),
                "tokens": tokens,
                "ms_per_token": 1000 * decode / tokens,
                "tokens_per_second": tokens / decode if decode else float("nan"),
                "compile_ms": 1000 * statistics.median(r.compile_seconds for r in group),
                "ms_per_token_with_compile": 1000 * (decode + sum(r.compile_seconds for r in group)) / tokens,
                "checks_per_sampled_token": sum(r.checks for r in group) / sampled if sampled else None,
                "checks_without_full_masks": (
                    sum(r.checks - vocab_size * r.full_masks for r in group) / (sampled - full_masks)
                    if sampled > full_masks
                    else None
                ),
                "full_mask_share": full_masks / sampled if sampled else None,
                "forced_share": sum(r.forced for r in group) / tokens if method in CONSTRAINED_LOOP else None,
                "valid": sum(bool(r.valid) for r in group) if group[0].valid is not None else None,
            }
        )
    base = next(row["ms_per_token"] for row in rows if row["method"] == "unconstrained loop")
    hf_base = next(row["ms_per_token"] for row in rows if row["method"] == "unconstrained generate")
    for row in rows:
        row["vs_loop"] = row["ms_per_token"] / base
        row["vs_generate"] = row["ms_per_token"] / hf_base
    rows.append({"method": "(full mask)", "checks_per_sampled_token": float(vocab_size)})
    return rows


def print_tables(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    headers = ["method", "runs", "tokens", "ms/token", "tokens/s", "x loop", "x generate", "compile ms"]
    headers += ["ms/token+compile"]
    headers += ["checks/sampled", "checks/other", "full-mask share", "forced share", "valid"]
    keys = ["method", "runs", "tokens", "ms_per_token", "tokens_per_second", "vs_loop", "vs_generate"]
    keys += [
        "compile_ms",
        "ms_per_token_with_compile",
        "checks_per_sampled_token",
        "checks_without_full_masks",
    ]
    keys += ["full_mask_share"]
    keys += ["forced_share", "valid"]
    table = [[row.get(key) for key in keys] for row in rows]
    title = (
        f"SmolLM2-135M on CPU, {args.threads} thread(s), schemas {args.schemas}, max_new_tokens "
        f"{args.max_new_tokens}, {args.repeats} repeat(s); ms/token excludes the prompt's prefill; "
        f"smc uses N={args.particles} (ms per output token)"
    )
    print(render_table(title, headers, table))
    by = {row["method"]: row for row in rows}
    vocab_size = by["(full mask)"]["checks_per_sampled_token"]
    awrs_checks = by["awrs"]["checks_per_sampled_token"] or float("nan")
    awrs_without = by["awrs"]["checks_without_full_masks"] or float("nan")
    anchors = ("llguidance processor", "xgrammar processor")
    fastest_anchor = min(by[name]["ms_per_token"] for name in anchors)
    fastest_with_compile = min(by[name]["ms_per_token_with_compile"] for name in anchors)
    targets = [
        ["awrs time per token / unconstrained loop", by["awrs"]["vs_loop"], "<= 1.05"],
        ["full mask / awrs checks per sampled token (fallback = V)", vocab_size / awrs_checks, ">= 100"],
        ["  the same on steps without a fallback", vocab_size / awrs_without, "(info)"],
        [
            "constrain processor / fastest anchor processor",
            _ratio(by, "constrain processor", fastest_anchor),
            "<= 1",
        ],
        ["awrs loop / fastest anchor processor", _ratio(by, "awrs", fastest_anchor), "<= 1"],
        ["mask loop / fastest anchor processor", _ratio(by, "mask", fastest_anchor), "<= 1"],
        [
            "  constrain processor / fastest anchor, compile included",
            by["constrain processor"]["ms_per_token_with_compile"] / fastest_with_compile,
            "<= 1",
        ],
    ]
    print()
    print(render_table("Targets", ["ratio", "measured", "target"], targets))


def _ratio(by: dict[str, dict[str, Any]], method: str, reference: float) -> float:
    return by[method]["ms_per_token"] / reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemas", default=",".join(SCHEMAS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--particles", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps ratios stable)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    schemas = args.schemas.split(",")
    unknown = set(schemas) - set(SCHEMAS)
    if unknown:
        parser.error(f"unknown schemas {sorted(unknown)}; known: {', '.join(SCHEMAS)}")

    model, tokenizer = constrain.load_default_model()
    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=model.config.vocab_size)
    engines = Engines(
        model,
        tokenizer,
        constrain.Vocabulary.from_tokenizer(tokenizer),
        llguidance.hf.from_tokenizer(tokenizer),
        xgrammar.GrammarCompiler(info, cache_enabled=False),
    )
    prompts = {name: prompt_token_ids(tokenizer, SCHEMAS[name][1], chat=True) for name in schemas}
    methods = ["unconstrained loop", "unconstrained generate", *CONSTRAINED_LOOP, *PROCESSORS]
    for method in methods:  # warm-up: imports, JIT, allocator; not measured
        run_method(method, schemas[0], engines, prompts[schemas[0]], _short(args), seed=999)
    prefill = {name: prefill_seconds(model, ids) for name, ids in prompts.items()}
    runs: list[Run] = []
    for repeat in range(args.repeats):
        for schema_index, name in enumerate(schemas):
            shift = repeat + schema_index
            for method in methods[shift % len(methods) :] + methods[: shift % len(methods)]:
                runs.append(run_method(method, name, engines, prompts[name], args, seed=repeat))
    rows = summarize(runs, prefill, engines.vocab.size)
    print_tables(rows, args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "args": vars(args),
                "prefill_seconds": prefill,
                "summary": rows,
                "runs": [asdict(r) for r in runs],
            },
            indent=1,
        )
    )


def _short(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "max_new_tokens": 4})


if __name__ == "__main__":
    main()
