"""Constrained diffusion decoding and multi-region infilling, offline on a CPU.

1. The shipped tiny masked-diffusion model decodes JSON documents with and without the JSON
   grammar: unconstrained, it often writes broken JSON; constrained, every output parses.
2. SmolLM2 (the default autoregressive model) fills the holes of a JSON template, with the
   infilling checker keeping the rest of the template completable.

    python examples/diffusion_infill.py                      # a few seconds plus SmolLM2's tokens
    python examples/diffusion_infill.py --length 32 --steps 8 --max-new-tokens 6   # smoke test
"""

from __future__ import annotations

import argparse
import json

import torch

import constrain
from constrain.diffusion import ByteTokenizer, byte_vocabulary, generate, load_tiny_denoiser
from constrain.template_fill import fill


def parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def diffusion_demo(length: int, steps: int, block_length: int, seeds: int) -> None:
    model = load_tiny_denoiser()
    tokenizer = ByteTokenizer()
    grammar = constrain.compile_grammar(constrain.load_grammar("json"), byte_vocabulary())
    print(f"tiny diffusion model, canvas of {length} bytes, {steps} steps, blocks of {block_length}")
    for seed in range(seeds):
        free = generate(
            model,
            tokenizer,
            "JSON:",
            None,
            length,
            steps,
            block_length=block_length,
            temperature=1.0,
            seed=seed,
        )
        constrained = generate(
            model,
            tokenizer,
            "JSON:",
            grammar,
            length,
            steps,
            block_length=block_length,
            temperature=1.0,
            seed=seed,
        )
        print(f"  seed {seed} unconstrained ({'valid' if parses(free.text) else 'invalid'}): {free.text!r}")
        print(
            f"  seed {seed} constrained   ({'valid' if parses(constrained.text) else 'invalid'}): "
            f"{constrained.text!r}  [{constrained.n_rejected}/{constrained.n_proposals} proposals rejected, "
            f"{1e3 * constrained.check_seconds / constrained.steps:.1f} ms of checks per step]"
        )


def template_demo(max_new_tokens: int) -> None:
    model, tokenizer = constrain.load_default_model()
    grammar = constrain.compile_grammar(
        constrain.load_grammar("json"), constrain.Vocabulary.from_tokenizer(tokenizer)
    )
    template = '{"name": <hole>, "born": <hole>, "tags": [<hole>]}'
    result = fill(
        model,
        tokenizer,
        template,
        grammar,
        prompt="Describe Ada Lovelace as a JSON object.",
        max_tokens_per_hole=max_new_tokens,
    )
    print(f"\nSmolLM2 fills {template}")
    print(f"  {result.text}")
    print(f"  holes: {result.holes}; valid JSON: {parses(result.text)}; {result.seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=48, help="diffusion canvas length (bytes)")
    parser.add_argument("--steps", type=int, default=24, help="diffusion steps (forward passes)")
    parser.add_argument("--block-length", type=int, default=16, help="semi-autoregressive block length")
    parser.add_argument("--seeds", type=int, default=3, help="diffusion samples to draw")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="token budget of each template hole")
    parser.add_argument("--skip-template", action="store_true", help="only run the diffusion part")
    args = parser.parse_args()
    torch.set_num_threads(1)
    diffusion_demo(args.length, args.steps, min(args.block_length, args.length), args.seeds)
    if not args.skip_template:
        template_demo(args.max_new_tokens)


if __name__ == "__main__":
    main()
