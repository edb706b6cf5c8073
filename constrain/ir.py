"""The grammar IR every front end compiles into: a CFG whose terminals are regexes.

Semantics (the one definition used by masks, tests and the infilling checker): the
language is the context-free language obtained by substituting each terminal by the
language of its regex (any split of the text into lexemes is allowed), with any number
of ``ignore`` lexemes allowed before, between and after terminals. Texts are UTF-8
bytes; a terminal's regex is matched in full against the UTF-8 encoding of a lexeme.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from constrain.byte_dfa import ByteDFA

RegexDialect = Literal["python", "ecma"]


@dataclass(frozen=True)
class Terminal:
    """A lexeme class: a regex (full match) in the given dialect, or a ready byte automaton.

    Front ends that need operations regexes lack (intersection, JSON escaping of a decoded
    language) build the ``ByteDFA`` themselves and pass it as ``pattern``.
    """

    name: str
    pattern: str | ByteDFA
    dialect: RegexDialect = "python"


@dataclass(frozen=True)
class NonTerminal:
    name: str


Symbol = Terminal | NonTerminal


@dataclass(frozen=True)
class Rule:
    """One production ``lhs -> rhs``; an empty ``rhs`` derives the empty string."""

    lhs: str
    rhs: tuple[Symbol, ...]


@dataclass(frozen=True)
class Grammar:
    """A CFG over regex terminals. ``ignore`` terminals may appear between any two lexemes."""

    rules: tuple[Rule, ...]
    start: str
    ignore: tuple[Terminal, ...] = field(default=())

    @property
    def terminals(self) -> tuple[Terminal, ...]:
        """All distinct terminals, rules' first then ignored ones, in first-use order."""
        seen: dict[Terminal, None] = {}
        for rule in self.rules:
            for symbol in rule.rhs:
                if isinstance(symbol, Terminal):
                    seen.setdefault(symbol)
        for terminal in self.ignore:
            seen.setdefault(terminal)
        return tuple(seen)

    @property
    def nonterminals(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.lhs for rule in self.rules))


def regex_grammar(pattern: str, dialect: RegexDialect = "python") -> Grammar:
    """A plain regex constraint: a grammar with one terminal, matched in full."""
    return Grammar(rules=(Rule("start", (Terminal("PATTERN", pattern, dialect),)),), start="start")
