"""Extract an invoice record from an e-mail into a Pydantic model with ``@constrain.structured``.

The decorator compiles the model's JSON Schema once, at class creation; ``Invoice.extract``
then prompts the default model (SmolLM2-135M-Instruct, offline, CPU) with the field
descriptions and the text, and decodes greedily under the grammar, so the result always
validates: the worst a small model can do is pick the wrong value, never break the format.

Usage: python examples/extract_invoice.py [--max-new-tokens 120] [--model DIR] [FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import BaseModel, Field

import constrain
from constrain.generation import IncompleteOutputError

EMAIL = """\
From: billing@northwind-supplies.example
Subject: Invoice INV-2041

Hello, please find our invoice INV-2041 for the order of 12 March.
Amount due: 1250.00 EUR, payable within 30 days.
Best regards, Northwind Supplies
"""


@constrain.structured(max_new_tokens=120)
class Invoice(BaseModel):
    """An invoice mentioned in an e-mail."""

    vendor: str = Field(max_length=40, description="the company that sent the invoice")
    invoice_number: str = Field(max_length=20, description="the invoice identifier")
    total: float = Field(ge=0, description="the amount due")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", help="a text file to read (default: a sample e-mail)")
    parser.add_argument("--max-new-tokens", type=int, default=120)
    parser.add_argument("--model", default="default", help="'default' or a local model directory")
    args = parser.parse_args(argv)
    text = Path(args.file).read_text(encoding="utf-8") if args.file else EMAIL
    try:
        invoice = Invoice.extract(text, model=args.model, max_new_tokens=args.max_new_tokens)
    except IncompleteOutputError as error:
        print(f"the token budget ran out; partial output: {error.partial}", file=sys.stderr)
        return 1
    print(invoice.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
