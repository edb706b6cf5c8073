"""Lark EBNF text to the grammar IR, using Lark's own grammar loader.

Lark already expands EBNF (``? * + [] ~n..m``), templates, aliases, ``%import`` and
``%ignore`` into plain rules over regex terminals, with repetition as left recursion,
which is what the interned Earley parser wants. Priorities are dropped: they choose
among parses and never change the language.
"""

from __future__ import annotations

import re

import lark
from lark.load_grammar import load_grammar

from constrain.errors import GrammarError
from constrain.ir import Grammar, NonTerminal, Rule, Terminal

# Lark's common.ESCAPED_STRING uses a lookbehind. This lookaround-free regex has the same
# language: after the opening quote, either nothing or text ending in a non-backslash,
# then an even run of backslashes and the closing quote (``.`` excludes only newline).
_LOOKAROUND_FREE_EQUIVALENTS = {
    r'".*?(?<!\\\\)(\\\\\\\\)*?"'.replace("\\\\", "\\"): r'"(?:.*[^\\\n])?(?:\\\\)*"',
}


def grammar_from_lark(text: str, start: str = "start") -> Grammar:
    """Compile Lark grammar text to the IR; errors carry the line and column."""
    try:
        loaded, _ = load_grammar(text, "<grammar>", [], False)
        terminal_defs, rules, ignore_names = loaded.compile([start], set())
    except lark.exceptions.UnexpectedInput as error:
        message = f"malformed grammar: {_first_line(error)}"
        raise GrammarError(message, line=error.line, column=error.column) from error
    except lark.exceptions.GrammarError as error:
        raise GrammarError(f"malformed grammar: {error}", **_position(str(error))) from error
    except lark.exceptions.LarkError as error:
        raise GrammarError(f"malformed grammar: {error}") from error
    terminals = {t.name: _terminal(t) for t in terminal_defs}
    ir_rules = tuple(
        Rule(
            rule.origin.name,
            tuple(terminals[s.name] if s.is_term else NonTerminal(s.name) for s in rule.expansion),
        )
        for rule in rules
    )
    return Grammar(ir_rules, start, tuple(terminals[name] for name in ignore_names))


def _terminal(definition) -> Terminal:
    pattern = definition.pattern.to_regexp()
    return Terminal(definition.name, _LOOKAROUND_FREE_EQUIVALENTS.get(pattern, pattern))


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]


def _position(message: str) -> dict[str, int]:
    found = re.search(r"line (\d+)(?:,? col(?:umn)? (\d+))?", message)
    if not found:
        return {}
    return {"line": int(found[1]), **({"column": int(found[2])} if found[2] else {})}
