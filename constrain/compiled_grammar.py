"""Compile a grammar (Lark text, regex or IR) against a vocabulary.

Compilation itself is cheap: normalize the grammar and compile the terminal DFAs. The
lexer products, parser states and token masks are built lazily and cached inside the
``CompiledGrammar``, so every matcher made from it profits from the work of the others.
"""

from __future__ import annotations

from constrain.cfg import normalize
from constrain.earley import EarleyParser
from constrain.ir import Grammar, RegexDialect, regex_grammar
from constrain.json_schema import schema_to_grammar
from constrain.lark_frontend import grammar_from_lark
from constrain.lexer import Lexer
from constrain.matcher import Matcher
from constrain.token_automaton import TokenAutomaton
from constrain.vocabulary import Vocabulary


class CompiledGrammar:
    """A grammar bound to a vocabulary; ``matcher()`` gives a fresh, cheap matcher."""

    def __init__(self, grammar: Grammar, vocab: Vocabulary, *, budget_seconds: float = 10.0):
        self.grammar = grammar
        self.vocab = vocab
        normal = normalize(grammar, budget_seconds=budget_seconds)
        lexer = Lexer(normal.terminal_dfas, normal.ignore)
        self.automaton = TokenAutomaton(EarleyParser(normal), lexer, vocab)

    def matcher(self) -> Matcher:
        return Matcher(self.automaton)


def compile_grammar(lark_text: str, vocab: Vocabulary, start: str = "start") -> CompiledGrammar:
    """Compile a Lark EBNF grammar; GrammarError (with line and column) if it is malformed."""
    return CompiledGrammar(grammar_from_lark(lark_text, start), vocab)


def compile_regex(pattern: str, vocab: Vocabulary, dialect: RegexDialect = "python") -> CompiledGrammar:
    """Compile a regex matched in full (Python ``re`` syntax unless ``dialect="ecma"``)."""
    return CompiledGrammar(regex_grammar(pattern, dialect), vocab)


def compile_ir(grammar: Grammar, vocab: Vocabulary) -> CompiledGrammar:
    """Compile a grammar already in the IR (the JSON Schema compiler's output, say)."""
    return CompiledGrammar(grammar, vocab)


def compile_json_schema(
    schema: object,
    vocab: Vocabulary,
    *,
    whitespace: str = "flexible",
    max_whitespace: int = 20,
    lenient: bool = False,
    **options: object,
) -> CompiledGrammar:
    """Compile a JSON Schema (dict, JSON text or Pydantic model class) to a grammar.

    Keywords the engine cannot enforce exactly raise UnsupportedSchemaError naming the
    keyword and its JSON pointer, unless ``lenient=True`` drops them with a warning.
    """
    grammar = schema_to_grammar(
        schema, whitespace=whitespace, max_whitespace=max_whitespace, lenient=lenient, **options
    )
    return CompiledGrammar(grammar, vocab)
