"""Molecules as SMILES strings under the bundled OpenSMILES grammar (grammars/smiles.lark).

The model completes a few-shot list ("Ethanol: CCO" ...) for a named molecule, greedily and
then a few sampled variants. The grammar guarantees each answer is well formed per OpenSMILES
syntax (atoms, bonds, branches, ring closures), which the example checks again with Lark's
own parser. Syntax is not chemistry: a valid string may still be the wrong molecule.

The grammar is the bundled one followed by a newline: in a list the model ends an answer
with a newline, which the bare SMILES language excludes, so without it a small model
keeps appending atoms rather than choosing the end token.

Usage: python examples/smiles.py [--max-new-tokens 30] [--samples 2] [--model DIR] [MOLECULE]
"""

from __future__ import annotations

import argparse
import sys

import lark

import constrain
from constrain.generation import IncompleteOutputError

FEW_SHOT = "Ethanol: CCO\nBenzene: c1ccccc1\nAcetic acid: CC(=O)O\nPropane: CCC\n"


def smiles_line_grammar() -> str:
    """The bundled SMILES grammar with a newline after the molecule."""
    text = constrain.load_grammar("smiles")
    return text.replace("start: chain", 'start: chain "\\n"', 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("molecule", nargs="?", default="acetone")
    parser.add_argument("--max-new-tokens", type=int, default=30)
    parser.add_argument("--model", default="default", help="'default' or a local model directory")
    parser.add_argument("--samples", type=int, default=2, help="sampled variants after the greedy one")
    args = parser.parse_args(argv)
    prompt = f"{FEW_SHOT}{args.molecule.capitalize()}: "
    grammar = smiles_line_grammar()
    reference = lark.Lark(constrain.load_grammar("smiles"))
    settings = [{"temperature": 0.0}] + [{"temperature": 0.8, "seed": seed} for seed in range(args.samples)]
    for options in settings:
        try:
            line = constrain.grammar(
                args.model, grammar, prompt, chat=False, max_new_tokens=args.max_new_tokens, **options
            )
        except IncompleteOutputError as error:
            print(f"the token budget ran out; partial SMILES: {error.partial}", file=sys.stderr)
            return 1
        smiles = line.removesuffix("\n")
        reference.parse(smiles)  # never fails: the grammar only lets valid SMILES through
        label = "greedy" if options["temperature"] == 0 else f"sample (seed {options['seed']})"
        print(f"{label:>18}: {smiles}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
