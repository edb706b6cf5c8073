"""Train the tiny masked-diffusion model shipped with constrain, on a CPU, in a few minutes.

The data are texts sampled at random from two of the bundled grammars' languages, JSON
documents (many of them person-like records) and arithmetic expressions, each after a short
prompt (``"JSON:"`` or ``"EXPR:"``) and padded with EOS to the canvas length, as in LLaDA's
fine-tuning. Training is LLaDA's objective: draw a mask ratio t ~ U(0, 1), mask each response
position with probability t, and predict the masked tokens (cross-entropy on masked positions;
the prompt is never masked). One thread only, because the machine may be shared.

    python examples/train_tiny_diffusion.py --minutes 9

writes ``constrain/diffusion/checkpoints/tiny_diffusion.pt`` (fp16, under 2 MB).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import string
import time
from pathlib import Path

import torch
from torch.nn import functional

from constrain.diffusion.byte_vocabulary import EOS_TOKEN_ID, MASK_TOKEN_ID
from constrain.diffusion.tiny_model import (
    DEFAULT_CHECKPOINT,
    TinyDiffusionConfig,
    TinyDiffusionLM,
    load_tiny_model,
    save_tiny_model,
)

JSON_PROMPT = "JSON:"
EXPR_PROMPT = "EXPR:"
CANVAS_LENGTHS = (32, 48, 64)
NAMES = ("Ada", "Bob", "Eve", "Alan", "Grace")
WORDS = ("name", "age", "id", "tags", "email", "city", "x", "y", "value", "items", "ok", "count")
WORDS += ("list", "a", "b", "key", "type", "data", "red", "blue", "green", "home", "work", *NAMES)
FUNCTIONS = ("sin", "cos", "max", "min", "f", "g", "sqrt", "log")


def random_string(rng: random.Random) -> str:
    """A JSON string value: mostly words, sometimes random letters with an escape."""
    if rng.random() < 0.7:
        return rng.choice(WORDS)
    letters = "".join(rng.choice(string.ascii_letters + " ") for _ in range(rng.randint(0, 8)))
    return letters + rng.choice(["", "", "\n", '"', "é"])


def random_number(rng: random.Random) -> int | float:
    kind = rng.random()
    if kind < 0.6:
        return rng.randint(-20, 120)
    if kind < 0.9:
        return round(rng.uniform(-100, 100), rng.randint(1, 3))
    return float(f"{rng.uniform(1, 9):.1f}e{rng.randint(-5, 9)}")


def random_json_value(rng: random.Random, depth: int = 0) -> object:
    """A random value; at the top level always an object or an array (scalars alone say little)."""
    kind = rng.random() * 0.45 if depth == 0 else rng.random()
    if depth < 3 and kind < 0.3:
        return {rng.choice(WORDS): random_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if depth < 3 and kind < 0.45:
        return [random_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind < 0.7:
        return random_string(rng)
    if kind < 0.9:
        return random_number(rng)
    return rng.choice([True, False, None])


def random_record(rng: random.Random) -> dict[str, object]:
    """A person-like object, the shape the tests' JSON Schema asks for."""
    record: dict[str, object] = {"name": rng.choice(NAMES), "age": rng.randint(0, 99)}
    if rng.random() < 0.5:
        record["tags"] = [rng.choice(WORDS) for _ in range(rng.randint(0, 3))]
    return record


def random_json_text(rng: random.Random) -> str:
    document = random_record(rng) if rng.random() < 0.5 else random_json_value(rng)
    separators = rng.choice([(",", ":"), (", ", ": "), (", ", ": "), (",", ": ")])
    return json.dumps(document, separators=separators, ensure_ascii=rng.random() < 0.5)


def random_expression(rng: random.Random, depth: int = 0) -> str:
    """A random expression; at the top level never a lone number or name."""
    kind = 0.35 + rng.random() * 0.65 if depth == 0 else rng.random()
    if depth >= 3 or kind < 0.35:
        atom = rng.random()
        if atom < 0.5:
            return str(rng.choice([rng.randint(0, 99), round(rng.uniform(0, 10), 2)]))
        return rng.choice("xyzabn") if atom < 0.85 else rng.choice(["pi", "rate", "x1", "total"])
    if kind < 0.65:
        space = rng.choice(["", " "])
        op = rng.choice("+-*/%^" if depth < 2 else "+-*/")
        return f"{random_expression(rng, depth + 1)}{space}{op}{space}{random_expression(rng, depth + 1)}"
    if kind < 0.8:
        return f"({random_expression(rng, depth + 1)})"
    if kind < 0.9:
        arguments = [random_expression(rng, depth + 1) for _ in range(rng.randint(1, 2))]
        return f"{rng.choice(FUNCTIONS)}({', '.join(arguments)})"
    return f"-{random_expression(rng, depth + 1)}"


def random_example(rng: random.Random, canvas_length: int) -> tuple[bytes, bytes]:
    """(prompt, response) with the response fitting the canvas."""
    while True:
        if rng.random() < 0.6:
            prompt, text = JSON_PROMPT, random_json_text(rng)
        else:
            prompt, text = EXPR_PROMPT, random_expression(rng)
        response = text.encode("utf-8")
        if len(response) <= canvas_length:
            return prompt.encode(), response


def make_batch(rng: random.Random, batch_size: int, canvas_length: int) -> tuple[torch.Tensor, int]:
    """Clean sequences (prompt + response + EOS padding) and the prompt length (all prompts: 5 bytes)."""
    rows = []
    for _ in range(batch_size):
        prompt, response = random_example(rng, canvas_length)
        rows.append(list(prompt) + list(response) + [EOS_TOKEN_ID] * (canvas_length - len(response)))
    return torch.tensor(rows, dtype=torch.long), len(JSON_PROMPT)


def masked_loss(model: TinyDiffusionLM, clean: torch.Tensor, prompt_length: int, gen: torch.Generator):
    """LLaDA's objective: mask response positions with a per-row ratio t ~ U(0, 1), predict them."""
    ratio = torch.rand(clean.shape[0], 1, generator=gen).clamp(min=0.02)
    masked = torch.rand(clean.shape, generator=gen) < ratio
    masked[:, :prompt_length] = False
    noisy = torch.where(masked, torch.full_like(clean, MASK_TOKEN_ID), clean)
    logits = model(noisy)
    return functional.cross_entropy(logits[masked], clean[masked])


def learning_rate(progress: float, peak: float) -> float:
    warmup = 0.03
    if progress < warmup:
        return peak * progress / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def train(minutes: float, batch_size: int, seed: int, output: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    model = TinyDiffusionLM(TinyDiffusionConfig())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    budget = minutes * 60
    started = time.perf_counter()
    step = 0
    running = None
    while (elapsed := time.perf_counter() - started) < budget:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(elapsed / budget, 2e-3)
        clean, prompt_length = make_batch(rng, batch_size, rng.choice(CANVAS_LENGTHS))
        loss = masked_loss(model, clean, prompt_length, gen)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        step += 1
        if step % 100 == 0:
            print(f"step {step:5d}  {elapsed:6.0f} s  loss {running:.3f}", flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_tiny_model(model, output)
    seconds = time.perf_counter() - started
    parameters = sum(p.numel() for p in model.parameters())
    size = output.stat().st_size / 1e6
    print(f"trained {parameters:,} parameters for {step} steps in {seconds:.0f} s on 1 thread")
    print(f"final running loss {running:.3f}; wrote {output} ({size:.2f} MB)")
    load_tiny_model(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=9.0, help="wall-clock training budget")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=DEFAULT_CHECKPOINT)
    args = parser.parse_args()
    train(args.minutes, args.batch_size, args.seed, args.output)


if __name__ == "__main__":
    main()
