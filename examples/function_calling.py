"""Function calling with a local model: pick a tool and its arguments, constrained by a schema.

Each tool is described by a JSON Schema for its arguments. The call the model must write is
``{"tool": <name>, "arguments": {...}}``, where the arguments must match *that* tool: the
schema is an ``anyOf`` with one branch per tool, each fixing ``tool`` to a ``const``. The
grammar therefore makes a call to an unknown tool, or with another tool's arguments,
impossible; the example then dispatches the call to a plain Python function.

The default 135M-parameter model writes well-formed calls but chooses tools poorly (it tends
to pick the first); ``--model DIR`` runs a bigger local transformers model.

Usage: python examples/function_calling.py [--max-new-tokens 60] [--model DIR] [REQUEST]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import constrain
from constrain.generation import IncompleteOutputError


def get_weather(city: str, unit: str = "celsius") -> str:
    return f"(pretend) 21 degrees {unit} in {city}"


def set_timer(minutes: int) -> str:
    return f"(pretend) timer set for {minutes} minutes"


def convert_currency(amount: float, source: str, target: str) -> str:
    return f"(pretend) {amount} {source} is {amount * 1.1:.2f} {target}"


TOOLS: dict[str, tuple[str, dict[str, Any], Callable[..., str]]] = {
    "get_weather": (
        "the current weather in a city",
        {
            "city": {"type": "string", "maxLength": 40},
            "unit": {"enum": ["celsius", "fahrenheit"]},
        },
        get_weather,
    ),
    "set_timer": (
        "start a countdown",
        {"minutes": {"type": "integer", "minimum": 1, "maximum": 600}},
        set_timer,
    ),
    "convert_currency": (
        "convert an amount of money",
        {
            "amount": {"type": "number", "minimum": 0},
            "source": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "target": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
        convert_currency,
    ),
}


def call_schema(tools: dict[str, tuple[str, dict[str, Any], Callable[..., str]]]) -> dict[str, Any]:
    """One branch per tool: its name as a const and its own arguments (all required but 'unit')."""
    branches = []
    for name, (_, arguments, _) in tools.items():
        required = [argument for argument in arguments if argument != "unit"]
        branches.append(
            {
                "type": "object",
                "properties": {
                    "tool": {"const": name},
                    "arguments": {
                        "type": "object",
                        "properties": arguments,
                        "required": required,
                        "additionalProperties": False,
                    },
                },
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    return {"anyOf": branches}


def prompt_for(request: str) -> str:
    lines = ["You can call one of these tools:"]
    for name, (description, arguments, _) in TOOLS.items():
        lines.append(f"- {name}({', '.join(arguments)}): {description}")
    lines += ["", f"Request: {request}", 'Answer with the call as JSON: {"tool": ..., "arguments": {...}}']
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("request", nargs="?", default="What's the weather like in Paris?")
    parser.add_argument("--max-new-tokens", type=int, default=60)
    parser.add_argument("--model", default="default", help="'default' or a local model directory")
    args = parser.parse_args(argv)
    try:
        call = constrain.json(
            args.model,
            call_schema(TOOLS),
            prompt_for(args.request),
            temperature=0,
            max_new_tokens=args.max_new_tokens,
        )
    except IncompleteOutputError as error:
        print(f"the token budget ran out; partial output: {error.partial}", file=sys.stderr)
        return 1
    print(f"call: {call['tool']}({call['arguments']})")
    print(f"result: {TOOLS[call['tool']][2](**call['arguments'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
