"""What constrained diffusion decoding costs: checker latency, rejections and decoding overhead.

Three measurements, all in one run (only ratios measured together mean anything on a shared
machine), over the JSON grammar and the byte vocabulary of the shipped tiny denoiser:

1. Checker latency per check at canvas lengths 64, 256 and 1024. The canvases are random JSON
   documents of about that many bytes, padded with EOS, with a random share of positions masked
   (as during decoding); each is checked afresh, then once with a correct proposal (a document
   token placed at a masked position) and once with a random byte there, both resuming the
   search kept from the canvas's own check (what consecutive checks during decoding do).
2. The share of proposals rejected while decoding, for the tiny model and for random logits.
3. Decoding wall time with and without the constraint (same model, seeds and schedule), as ms
   per step and as a ratio; then the same overhead against the forward time of an 8B model.

The 8B forward time is an estimate, not a measurement (no GPU here): LLaDA-8B on one A100
with bf16 weights, the larger of compute time ``2 * 8e9 * tokens`` FLOPs at 50% of the A100's
312 TFLOP/s and weight-read time 16 GB at 2 TB/s. The per-step overhead measured with the
tiny model's 258-token vocabulary is carried over as is; a real 126k vocabulary changes it.

Usage: python benchmarks/infill.py [--quick] [--seeds N]
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import torch
from common import latency_summary, render_table

import constrain
from constrain.diffusion import (
    EOS_TOKEN_ID,
    MASK_TOKEN_ID,
    ByteTokenizer,
    byte_vocabulary,
    generate,
    load_tiny_denoiser,
)
from constrain.diffusion.canvas import canvas_segments
from constrain.infill import Checker

CANVAS_LENGTHS = (64, 256, 1024)
LLADA_PARAMETERS = 8e9
A100_BF16_FLOPS = 312e12
ASSUMED_UTILIZATION = 0.5
WEIGHT_BYTES = 16e9
HBM_BYTES_PER_SECOND = 2.0e12
PROMPT = "JSON:"


def random_json_document(rng: random.Random, target_bytes: int) -> bytes:
    """A random JSON object of at most ``target_bytes`` bytes, grown member by member."""
    words = ["name", "age", "tags", "id", "city", "Ada", "Grace", "x", "ok", "items"]

    def value(depth: int) -> object:
        kind = rng.random()
        if depth < 3 and kind < 0.2:
            return {rng.choice(words): value(depth + 1) for _ in range(rng.randint(0, 3))}
        if depth < 3 and kind < 0.35:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        if kind < 0.65:
            return rng.choice(words) + "".join(rng.choice("abc xyz") for _ in range(rng.randint(0, 6)))
        if kind < 0.9:
            return rng.choice([rng.randint(-99, 999), round(rng.uniform(-10, 10), 3)])
        return rng.choice([True, False, None])

    document: dict[str, object] = {}
    text = b"{}"
    while True:
        document[f"{rng.choice(words)}{len(document)}"] = value(1)
        candidate = json.dumps(document, separators=(", ", ": ")).encode()
        if len(candidate) > target_bytes:
            return text
        text = candidate


def checker_latency(checker: Checker, lengths: tuple[int, ...], per_length: int, seed: int) -> list[list]:
    """Check latency (p50/p99/max) per canvas length: a canvas checked afresh, then proposals on it.

    Each canvas is first checked on its own, with nothing kept from other canvases (as when a
    decoder starts); then a correct proposal (a document token at a masked position) and a random
    byte there are checked, each a one-position change that resumes the kept search, as in decoding.
    """
    rng = random.Random(seed)
    is_eos = np.arange(258) == EOS_TOKEN_ID
    kinds = ("canvas (fresh)", "correct (resumed)", "random (resumed)")
    rows = []
    for length in lengths:
        samples: dict[str, list[int]] = {kind: [] for kind in kinds}
        verdicts = dict.fromkeys(kinds, 0)
        for _ in range(max(3, per_length * 64 // length)):
            document = list(random_json_document(rng, length))
            truth = np.array(document + [EOS_TOKEN_ID] * (length - len(document)))
            canvas = np.where(
                np.random.default_rng(rng.randrange(2**32)).random(length) < rng.random(),
                MASK_TOKEN_ID,
                truth,
            )
            masked = np.flatnonzero(canvas == MASK_TOKEN_ID)
            if len(masked) == 0:
                continue
            position = int(masked[rng.randrange(len(masked))])
            checker.forget()
            proposals = [(kinds[0], canvas)]
            for kind, token in ((kinds[1], int(truth[position])), (kinds[2], rng.randrange(256))):
                proposal = canvas.copy()
                proposal[position] = token
                if is_eos[token]:
                    proposal[position:][proposal[position:] == MASK_TOKEN_ID] = token
                elif (proposal[:position] == EOS_TOKEN_ID).any():
                    continue
                proposals.append((kind, proposal))
            for kind, proposal in proposals:
                segments = canvas_segments(proposal, MASK_TOKEN_ID, is_eos)
                started = time.perf_counter_ns()
                completable = checker.is_completable(segments)
                samples[kind].append(time.perf_counter_ns() - started)
                verdicts[kind] += completable
        for kind in kinds:
            summary = latency_summary(samples[kind])
            accepted = verdicts[kind] / max(1, summary["n"])
            rows.append(
                [
                    length,
                    kind,
                    summary["n"],
                    summary["p50_us"] / 1e3,
                    summary["p99_us"] / 1e3,
                    summary["max_us"] / 1e3,
                    accepted,
                ]
            )
    return rows


class RandomLogits:
    """Random logits: the adversarial proposer, for the rejection share."""

    mask_token_id = MASK_TOKEN_ID
    shifted_logits = False

    def __init__(self, seed: int):
        self.generator = torch.Generator().manual_seed(seed)

    def canvas_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        return 4 * torch.randn((*input_ids.shape, 258), generator=self.generator)


def decoding_runs(grammar, lengths: tuple[int, ...], seeds: int) -> tuple[list[list], dict[int, dict]]:
    """Constrained vs unconstrained decoding with the tiny model (and random logits): cost per step."""
    tiny = load_tiny_denoiser()
    tokenizer = ByteTokenizer()
    rows = []
    overhead = {}
    for length in lengths:
        steps, block = length // 2, min(length, 16)
        results: dict[str, list] = {"unconstrained": [], "constrained": [], "random logits": []}
        for seed in range(seeds):
            for name, model, target in (
                ("unconstrained", tiny, None),
                ("constrained", tiny, grammar),
                ("random logits", RandomLogits(seed), grammar),
            ):
                results[name].append(
                    generate(
                        model,
                        tokenizer,
                        PROMPT,
                        target,
                        length,
                        steps,
                        block_length=block,
                        temperature=1.0,
                        seed=seed,
                    )
                )
        per_step = {}
        for name, runs in results.items():
            n_steps = sum(r.steps for r in runs)
            proposals = sum(r.n_proposals for r in runs)
            per_step[name] = 1e3 * sum(r.seconds for r in runs) / n_steps
            check_ms = 1e3 * sum(r.check_seconds for r in runs) / n_steps
            rejected = sum(r.n_rejected for r in runs) / max(1, proposals)
            rows.append([length, name, n_steps, per_step[name], check_ms, proposals, rejected])
        overhead[length] = {
            "constrained_ms": per_step["constrained"],
            "unconstrained_ms": per_step["unconstrained"],
            "unconstrained_valid": sum(_is_json(r.text) for r in results["unconstrained"]) / seeds,
        }
    return rows, overhead


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def llada_forward_ms(tokens: int) -> float:
    """Estimated LLaDA-8B forward time on an A100 (see the module docstring)."""
    compute = 2 * LLADA_PARAMETERS * tokens / (A100_BF16_FLOPS * ASSUMED_UTILIZATION)
    weights = WEIGHT_BYTES / HBM_BYTES_PER_SECOND
    return 1e3 * max(compute, weights)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer canvases and runs (smoke test)")
    parser.add_argument("--seeds", type=int, default=4, help="decoding runs per length")
    args = parser.parse_args()
    torch.set_num_threads(1)
    grammar = constrain.compile_grammar(constrain.load_grammar("json"), byte_vocabulary())
    checker = Checker(grammar)
    per_length = 8 if args.quick else 60
    seeds = 1 if args.quick else args.seeds
    decode_lengths = (32,) if args.quick else (64, 128)

    latency = checker_latency(checker, CANVAS_LENGTHS, per_length, seed=0)
    print(
        render_table(
            "Checker latency per check, JSON grammar, byte vocabulary (ms)",
            ["canvas", "proposal", "checks", "p50", "p99", "max", "completable"],
            latency,
        )
    )
    print()
    runs, overhead = decoding_runs(grammar, decode_lengths, seeds)
    print(
        render_table(
            "Decoding with the tiny denoiser (temperature 1, blocks of 16, steps = length / 2)",
            ["length", "decoding", "steps", "ms/step", "check ms/step", "proposals", "rejected"],
            runs,
        )
    )
    print()
    rows = []
    for length, measured in overhead.items():
        extra = measured["constrained_ms"] - measured["unconstrained_ms"]
        forward = llada_forward_ms(length + len(PROMPT))
        rows.append(
            [
                length,
                measured["unconstrained_ms"],
                measured["constrained_ms"],
                extra,
                measured["constrained_ms"] / measured["unconstrained_ms"],
                forward,
                (forward + extra) / forward,
                measured["unconstrained_valid"],
            ]
        )
    print(
        render_table(
            "Constraint overhead per step: tiny model (measured) and LLaDA-8B (estimated forward)",
            [
                "length",
                "free ms/step",
                "constrained ms/step",
                "extra ms",
                "tiny ratio",
                "8B fwd ms (est.)",
                "8B ratio",
                "free valid JSON",
            ],
            rows,
        )
    )
    print(
        "8B forward estimate: max(2 * 8e9 * tokens FLOPs at 50% of an A100's 312 bf16 TFLOP/s, "
        "16 GB of weights at 2 TB/s);\nno GPU measurement. The extra ms are measured on this CPU with "
        "the 258-token byte vocabulary and carried over as is."
    )


if __name__ == "__main__":
    main()
