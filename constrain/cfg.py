"""The normalized grammar the lexer and parser run on, derived from the IR.

Normalization keeps the language exactly and establishes the invariants the matcher's
correctness argument needs: every terminal has a non-empty language without the empty
string, every nonterminal is productive and reachable, and symbols are small integers.
With those, any prefix the Earley parser accepts is a viable prefix of the language.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from constrain.byte_dfa import ByteDFA, compile_regex_dfa
from constrain.errors import CompileBudgetError, GrammarError
from constrain.ir import Grammar, NonTerminal, Rule, Terminal

START = "<start>"
TerminalDFAs = Callable[[Terminal], ByteDFA]  # a terminal's automaton, compiled once


@dataclass(frozen=True, eq=False)
class NormalGrammar:
    """Symbols are ints: terminals ``0..n_terminals-1``, nonterminals after them.

    ``productions[k] = (lhs, rhs)``; production 0 is the augmented ``<start> -> start``.
    """

    terminal_names: tuple[str, ...]
    terminal_dfas: tuple[ByteDFA, ...]
    ignore: frozenset[int]
    nonterminal_names: tuple[str, ...]
    productions: tuple[tuple[int, tuple[int, ...]], ...]
    nullable: frozenset[int]

    @cached_property
    def n_terminals(self) -> int:
        return len(self.terminal_names)  # cached: ``is_terminal`` runs in the parser's inner loops

    def is_terminal(self, symbol: int) -> bool:
        return symbol < self.n_terminals


def terminal_dfa(terminal: Terminal, deadline: float | None = None) -> ByteDFA:
    """The byte automaton of one terminal, with errors that name the terminal."""
    if isinstance(terminal.pattern, ByteDFA):
        return terminal.pattern
    try:
        return compile_regex_dfa(terminal.pattern, terminal.dialect, deadline=deadline)
    except GrammarError as error:
        raise type(error)(f"terminal {terminal.name}: {error}") from error


def normalize(grammar: Grammar, *, budget_seconds: float = 10.0) -> NormalGrammar:
    """Check and normalize ``grammar``; raises GrammarError for undefined or empty parts."""
    deadline = time.monotonic() + budget_seconds
    compiled: dict[Terminal, ByteDFA] = {}

    def dfa(terminal: Terminal) -> ByteDFA:
        """Each terminal's automaton, compiled once for the whole normalization."""
        found = compiled.get(terminal)
        if found is None:
            found = compiled[terminal] = terminal_dfa(terminal, deadline)
        return found

    rules = _split_empty_terminals(grammar.rules, dfa)
    _check_defined(rules, grammar.start)
    rules = _useful_rules(rules, grammar.start, dfa)
    symbols = _distinct_symbols(rules)
    terminals = tuple(dict.fromkeys(s for s in symbols.values() if isinstance(s, Terminal)))
    ignore_terminals = tuple(t for t in dict.fromkeys(grammar.ignore) if t not in terminals)
    all_terminals = terminals + ignore_terminals
    dfas = [dfa(t).without_empty() for t in all_terminals]
    if time.monotonic() > deadline:
        raise CompileBudgetError(f"compiling the terminals took longer than {budget_seconds} s")
    terminal_ids = {t: i for i, t in enumerate(all_terminals)}
    nonterminals = tuple(dict.fromkeys([START, *(r.lhs for r in rules)]))
    nonterminal_ids = {name: len(all_terminals) + i for i, name in enumerate(nonterminals)}
    symbol_ids = {
        key: terminal_ids[s] if isinstance(s, Terminal) else nonterminal_ids[s.name]
        for key, s in symbols.items()
    }
    productions = [(nonterminal_ids[START], (nonterminal_ids[grammar.start],))]
    productions += [(nonterminal_ids[r.lhs], tuple([symbol_ids[id(s)] for s in r.rhs])) for r in rules]
    ignore = frozenset(terminal_ids[t] for t in grammar.ignore if not dfas[terminal_ids[t]].is_empty)
    return NormalGrammar(
        terminal_names=tuple(t.name for t in all_terminals),
        terminal_dfas=tuple(dfas),
        ignore=ignore,
        nonterminal_names=nonterminals,
        productions=tuple(dict.fromkeys(productions)),
        nullable=_nullable(productions),
    )


def _distinct_symbols(rules: tuple[Rule, ...]) -> dict[int, Terminal | NonTerminal]:
    """The symbol objects of the right-hand sides by identity, in order of first use.

    Grammars reuse a few symbol objects many times over; a question about a symbol is
    answered once per object, and each occurrence then costs one look-up by ``id``
    instead of hashing a dataclass. (The rules keep the objects alive, so ids are stable.)
    """
    return {id(s): s for rule in rules for s in rule.rhs}


def _terminal_ids_where(rules: tuple[Rule, ...], test: Callable[[Terminal], bool]) -> set[int]:
    """The ids of the terminal objects in ``rules`` that pass ``test``."""
    symbols = _distinct_symbols(rules).items()
    return {key for key, s in symbols if isinstance(s, Terminal) and test(s)}


def _split_empty_terminals(rules: tuple[Rule, ...], dfa: TerminalDFAs) -> tuple[Rule, ...]:
    """Replace a terminal that matches the empty string by an optional non-empty terminal.

    Lexemes are never empty (an empty lexeme could be scanned forever); ``T`` becomes
    ``T? -> T' | ε`` with ``L(T') = L(T) - {ε}``, which keeps the language.
    """
    out: list[Rule] = []
    optional: dict[Terminal, NonTerminal] = {}
    empty_ok = _terminal_ids_where(rules, lambda terminal: dfa(terminal).accepts_empty)
    if not empty_ok:
        return rules
    for rule in rules:
        if empty_ok.isdisjoint(map(id, rule.rhs)):
            out.append(rule)
            continue
        rhs = []
        for symbol in rule.rhs:
            if id(symbol) in empty_ok:
                if symbol not in optional:
                    optional[symbol] = NonTerminal(f"{symbol.name}?")
                    non_empty = Terminal(symbol.name, dfa(symbol).without_empty())
                    out += [Rule(optional[symbol].name, (non_empty,)), Rule(optional[symbol].name, ())]
                symbol = optional[symbol]
            rhs.append(symbol)
        out.append(Rule(rule.lhs, tuple(rhs)))
    return tuple(out)


def _check_defined(rules: tuple[Rule, ...], start: str) -> None:
    defined = {r.lhs for r in rules}
    if start not in defined:
        raise GrammarError(f"the start rule {start!r} is not defined")
    for rule in rules:
        for symbol in rule.rhs:
            if isinstance(symbol, NonTerminal) and symbol.name not in defined:
                raise GrammarError(f"rule {rule.lhs!r} uses undefined rule {symbol.name!r}")


def _useful_rules(rules: tuple[Rule, ...], start: str, dfa: TerminalDFAs) -> tuple[Rule, ...]:
    """Keep the rules whose symbols are all productive and that are reachable from start.

    Both are worklist searches, linear in the grammar's size: a rule waits on the count of
    its distinct nonterminals not yet known productive, and reachability follows an
    index of the rules by left-hand side.
    """
    empty = _terminal_ids_where(rules, lambda terminal: dfa(terminal).is_empty)
    usable = [empty.isdisjoint(map(id, r.rhs)) for r in rules] if empty else [True] * len(rules)
    needs = [{s.name for s in r.rhs if isinstance(s, NonTerminal)} for r in rules]
    waiting = [len(names) for names in needs]
    users: dict[str, list[int]] = {}
    for index, names in enumerate(needs):
        for name in names:
            users.setdefault(name, []).append(index)
    productive: set[str] = set()
    ready = [i for i, r in enumerate(rules) if usable[i] and waiting[i] == 0]
    while ready:
        lhs = rules[ready.pop()].lhs
        if lhs in productive:
            continue
        productive.add(lhs)
        for index in users.get(lhs, ()):
            waiting[index] -= 1
            if waiting[index] == 0 and usable[index]:
                ready.append(index)
    if start not in productive:
        raise GrammarError(f"the grammar's language is empty: rule {start!r} derives no text")
    kept = [r for i, r in enumerate(rules) if usable[i] and waiting[i] == 0]  # lhs productive too
    by_lhs: dict[str, list[Rule]] = {}
    for rule in kept:
        by_lhs.setdefault(rule.lhs, []).append(rule)
    reachable = {start}
    frontier = [start]
    while frontier:
        for rule in by_lhs.get(frontier.pop(), ()):
            for s in rule.rhs:
                if isinstance(s, NonTerminal) and s.name not in reachable:
                    reachable.add(s.name)
                    frontier.append(s.name)
    return tuple(r for r in kept if r.lhs in reachable)


def _nullable(productions: list[tuple[int, tuple[int, ...]]]) -> frozenset[int]:
    """The symbols deriving the empty string (a worklist search, as in ``_useful_rules``)."""
    waiting = [len(set(rhs)) for _, rhs in productions]
    users: dict[int, list[int]] = {}
    for index, (_, rhs) in enumerate(productions):
        for symbol in set(rhs):
            users.setdefault(symbol, []).append(index)
    nullable: set[int] = set()
    ready = [index for index, count in enumerate(waiting) if count == 0]
    while ready:
        lhs = productions[ready.pop()][0]
        if lhs in nullable:
            continue
        nullable.add(lhs)
        for index in users.get(lhs, ()):
            waiting[index] -= 1
            if waiting[index] == 0:
                ready.append(index)
    return frozenset(nullable)
