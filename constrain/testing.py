"""Slow, independent reference for grammar languages: for tests only, NOT for production use.

:class:`ReferenceChecker` answers the two questions every token mask must agree with -- is
a byte string in the language of an IR :class:`~constrain.ir.Grammar`, and can it still be
extended into a word of it -- by the plainest method that is still exact. It shares no
code with the engine (it imports only ``constrain.ir`` and ``constrain.errors``), so a bug
there cannot hide behind the same bug here.

How it works:

* Terminals. Each regex is parsed by ``re``'s own parser into a Thompson NFA whose edges
  are one-character tests, and every test is a one-character regex compiled by ``re``.
  So character semantics (Unicode tables, case folding, ``\\w``, ``.``) are exactly those
  of Python's ``re``; the ``regex`` module ships newer Unicode tables and would disagree
  on recently assigned code points. The NFA runs as a lazily built DFA. Anchors,
  lookarounds, backreferences, conditionals, atomic groups and possessive repeats are
  refused with :class:`GrammarError`, as the engine refuses them.
* Parsing. Earley over code points. Every terminal an item expects (and every ignored
  terminal) is run from each position a lexeme may start at, one character at a time; a
  lexeme may end wherever its NFA accepts, which is the "any split into lexemes"
  semantics. Left recursion, ambiguity, empty rules and terminals matching the empty
  string are handled by the textbook closure with nullable completion. Unproductive rules
  are dropped first, so every Earley item is completable, and the exact viability test is
  "a lexeme may start here, or a running lexeme can still reach an accepting state".
* Data ending inside a UTF-8 character. The completing code points form one interval
  (see :func:`utf8_completion_range`). The character would fall inside exactly one lexeme
  of a parse, and that lexeme survives it iff some NFA edge leaving the lexeme's current
  states, into a state that can still accept, accepts the character. So the bytes are
  viable iff some such edge accepts a code point of the interval, and that is decided in
  C, without enumerating, by searching a string of all code points between the interval's
  bounds with the edge's one-character regex.
* Memo. Parse states live in a trie keyed by text, so all prefixes of a text share work.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre
import re._parser as sre_parser
from collections.abc import Iterable
from dataclasses import dataclass, field

from constrain.errors import GrammarError
from constrain.ir import Grammar, NonTerminal, Terminal

__all__ = ["ReferenceChecker", "split_utf8", "utf8_completion_range"]

_MAX_NFA_STATES = 200_000
_MAX_TRIE_NODES = 500_000
_CHAR_FLAGS = re.IGNORECASE | re.DOTALL | re.ASCII
_CATEGORY_ESCAPES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}
# Only the first continuation byte after these lead bytes is restricted (no overlongs, no
# surrogates, nothing above U+10FFFF); every other continuation byte ranges over 80..BF.
_FIRST_CONTINUATION_RANGE = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}


# ---------------------------------------------------------------- UTF-8 ----------------


def utf8_completion_range(tail: bytes) -> tuple[int, int] | None:
    """The code points whose UTF-8 encoding starts with the incomplete sequence ``tail``.

    They always form one interval ``(low, high)``: after the lead byte at most the first
    continuation byte has a restricted range and all later ones range over the whole of
    80..BF, so the completions are an interval in byte order, which is code-point order.
    ``None`` when ``tail`` is not a proper prefix of any valid encoding.
    """
    if not tail:
        return None
    lead = tail[0]
    length = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if 0xF0 <= lead <= 0xF4 else 0
    if not 1 <= len(tail) < length:
        return None
    bounds = [_FIRST_CONTINUATION_RANGE.get(lead, (0x80, 0xBF))] + [(0x80, 0xBF)] * (length - 2)
    if any(not low <= byte <= high for byte, (low, high) in zip(tail[1:], bounds, strict=False)):
        return None
    free = bounds[len(tail) - 1 :]
    lowest = tail + bytes(low for low, _ in free)
    highest = tail + bytes(high for _, high in free)
    return ord(lowest.decode("utf-8")), ord(highest.decode("utf-8"))


def split_utf8(data: bytes) -> tuple[str, tuple[int, int] | None] | None:
    """Decode ``data`` as complete characters plus the code-point range of a cut last one.

    Returns ``(text, None)`` for valid UTF-8, ``(text, (low, high))`` when the data ends
    inside a character that any code point of the range would complete, and ``None`` for
    data that no continuation can make valid.
    """
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    for cut in range(1, min(3, len(data)) + 1):
        completion = utf8_completion_range(data[-cut:])
        if completion is not None:
            try:
                return data[:-cut].decode("utf-8"), completion
            except UnicodeDecodeError:
                return None
    return None


@functools.cache
def _all_code_points() -> str:
    """Every code point, at its own index: the haystack for exact interval tests."""
    return "".join(map(chr, range(0x110000)))


# ---------------------------------------------------------------- terminals ------------


class _CharTest:
    """A one-character test, delegated to ``re`` so that its semantics are ``re``'s."""

    __slots__ = ("is_satisfiable", "regex")

    def __init__(self, source: str, flags: int):
        self.regex = re.compile(source, flags)
        self.is_satisfiable = self.accepts_some(0, 0xD7FF) or self.accepts_some(0xE000, 0x10FFFF)

    def accepts(self, char: str) -> bool:
        return self.regex.fullmatch(char) is not None

    def accepts_some(self, low: int, high: int) -> bool:
        """Whether some code point in ``low..high`` passes, decided without enumerating."""
        return self.regex.search(_all_code_points(), low, high + 1) is not None


@functools.cache
def _char_test(source: str, flags: int) -> _CharTest:
    return _CharTest(source, flags)


def _escape(code_point: int) -> str:
    return f"\\U{code_point:08x}"


def _char_test_source(op: object, argument: object) -> str:
    """Regex source for one parsed character node (literal, negated literal, dot or class)."""
    if op is sre.LITERAL:
        return _escape(argument)
    if op is sre.NOT_LITERAL:
        return f"[^{_escape(argument)}]"
    if op is sre.ANY:
        return "."
    negate, parts = "", []
    for item_op, item in argument:
        if item_op is sre.NEGATE:
            negate = "^"
        elif item_op is sre.LITERAL:
            parts.append(_escape(item))
        elif item_op is sre.RANGE:
            parts.append(f"{_escape(item[0])}-{_escape(item[1])}")
        elif item_op is sre.CATEGORY and item in _CATEGORY_ESCAPES:
            parts.append(_CATEGORY_ESCAPES[item])
        else:
            raise GrammarError(f"reference checker: unsupported character class item {item_op}")
    return f"[{negate}{''.join(parts)}]"


class _Nfa:
    """Thompson NFA of a Python regex (full match) with one-character tests on its edges."""

    def __init__(self, pattern: str):
        try:
            parsed = sre_parser.parse(pattern, 0)
        except re.error as error:
            raise GrammarError(f"invalid regex {pattern!r}: {error}") from None
        self.pattern = pattern
        self.moves: list[list[tuple[_CharTest, int]]] = []
        self.epsilons: list[list[int]] = []
        self.start = self._new_state()
        self.accept = self._emit_sequence(parsed, parsed.state.flags, self.start)

    def _new_state(self) -> int:
        if len(self.moves) >= _MAX_NFA_STATES:
            raise GrammarError(f"reference checker: regex {self.pattern!r} expands to too many states")
        self.moves.append([])
        self.epsilons.append([])
        return len(self.moves) - 1

    def _emit_sequence(self, nodes, flags: int, state: int) -> int:
        for op, argument in nodes:
            state = self._emit(op, argument, flags, state)
        return state

    def _emit(self, op, argument, flags: int, state: int) -> int:
        """Add the fragment for one node leaving ``state``; return the state it ends in."""
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.ANY, sre.IN):
            target = self._new_state()
            test = _char_test(_char_test_source(op, argument), flags & _CHAR_FLAGS)
            self.moves[state].append((test, target))
            return target
        if op is sre.BRANCH:
            end = self._new_state()
            for alternative in argument[1]:
                branch = self._new_state()
                self.epsilons[state].append(branch)
                self.epsilons[self._emit_sequence(alternative, flags, branch)].append(end)
            return end
        if op is sre.SUBPATTERN:
            _group, add_flags, remove_flags, body = argument
            return self._emit_sequence(body, (flags | add_flags) & ~remove_flags, state)
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, body = argument
            for _ in range(low):
                state = self._emit_sequence(body, flags, state)
            if high == sre.MAXREPEAT:
                loop = self._new_state()
                self.epsilons[state].append(loop)
                self.epsilons[self._emit_sequence(body, flags, loop)].append(loop)
                return loop
            end = self._new_state()
            self.epsilons[state].append(end)
            for _ in range(high - low):
                state = self._emit_sequence(body, flags, state)
                self.epsilons[state].append(end)
            return end
        raise GrammarError(f"reference checker: regex {self.pattern!r} uses unsupported construct {op}")

    def closure(self, states) -> frozenset[int]:
        seen = set(states)
        stack = list(states)
        while stack:
            for target in self.epsilons[stack.pop()]:
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return frozenset(seen)

    def co_reachable_from_accept(self) -> frozenset[int]:
        """States from which the accepting state can still be reached (over satisfiable tests)."""
        predecessors: list[list[int]] = [[] for _ in self.moves]
        for source, targets in enumerate(self.epsilons):
            for target in targets:
                predecessors[target].append(source)
        for source, moves in enumerate(self.moves):
            for test, target in moves:
                if test.is_satisfiable:
                    predecessors[target].append(source)
        seen = {self.accept}
        stack = [self.accept]
        while stack:
            for source in predecessors[stack.pop()]:
                if source not in seen:
                    seen.add(source)
                    stack.append(source)
        return frozenset(seen)


class _TerminalAutomaton:
    """A terminal's NFA run as a lazily built DFA over sets of live states."""

    def __init__(self, pattern: str):
        self._nfa = _Nfa(pattern)
        self._live = self._nfa.co_reachable_from_accept()
        self.start = self._nfa.closure([self._nfa.start]) & self._live
        self.accepts_empty = self.is_accepting(self.start)
        self._steps: dict[tuple[frozenset[int], str], frozenset[int]] = {}

    @property
    def is_productive(self) -> bool:
        return bool(self.start)

    def is_accepting(self, states: frozenset[int]) -> bool:
        return self._nfa.accept in states

    def step(self, states: frozenset[int], char: str) -> frozenset[int]:
        key = (states, char)
        result = self._steps.get(key)
        if result is None:
            targets = [
                target for state in states for test, target in self._nfa.moves[state] if test.accepts(char)
            ]
            result = self._steps[key] = self._nfa.closure(targets) & self._live
        return result

    def can_continue_within(self, states: frozenset[int], low: int, high: int) -> bool:
        """Whether some code point in ``low..high`` keeps the lexeme alive."""
        return any(
            target in self._live and test.accepts_some(low, high)
            for state in states
            for test, target in self._nfa.moves[state]
        )


# ---------------------------------------------------------------- parsing --------------

_Item = tuple[int, int, int]  # (rule index, dot, origin position)
_RunKey = tuple[bool, Terminal, int]  # (is an ignored lexeme, terminal, start position)


@dataclass(eq=False)
class _Column:
    """The Earley set at one position; never changed once the next character is read."""

    items: set[_Item] = field(default_factory=set)
    waiting_for_rule: dict[str, list[_Item]] = field(default_factory=dict)
    waiting_for_terminal: dict[Terminal, list[_Item]] = field(default_factory=dict)
    completed_empty: set[str] = field(default_factory=set)
    accepts: bool = False


@dataclass(frozen=True, eq=False)
class _ParseState:
    """Everything known after reading a text.

    ``runs`` maps each lexeme still being matched to its live NFA states and the set of
    columns whose expecting items it would advance; ``starts`` holds the columns after
    which a new lexeme may begin here (the current column if non-empty, and earlier ones
    followed by a chain of ignored lexemes).
    """

    columns: tuple[_Column, ...]
    runs: dict[_RunKey, tuple[frozenset[int], frozenset[int]]]
    starts: frozenset[int]


class _TrieNode:
    __slots__ = ("children", "state")

    def __init__(self, state: _ParseState):
        self.state = state
        self.children: dict[str, _TrieNode] = {}


class ReferenceChecker:
    """Exact membership and viable-prefix tests for an IR grammar, by brute force (tests only)."""

    def __init__(self, grammar: Grammar):
        for terminal in grammar.terminals:
            if terminal.dialect != "python":
                raise GrammarError(f"reference checker supports only python-dialect regexes, not {terminal}")
        self._automata = {terminal: _TerminalAutomaton(terminal.pattern) for terminal in grammar.terminals}
        self._start_symbol = grammar.start
        self._ignored = tuple(
            terminal for terminal in grammar.ignore if self._automata[terminal].is_productive
        )
        self._rules = _productive_rules(grammar, {t for t, a in self._automata.items() if a.is_productive})
        self._rules_by_lhs: dict[str, list[int]] = {}
        for index, (lhs, _rhs) in enumerate(self._rules):
            self._rules_by_lhs.setdefault(lhs, []).append(index)
        self._dead = _ParseState((), {}, frozenset())
        self._root = _TrieNode(
            self._settle((), [(i, 0, 0) for i in self._rules_by_lhs.get(grammar.start, [])])
        )
        self._trie_size = 0

    def is_complete(self, data: bytes) -> bool:
        """Whether ``data`` is a word of the language."""
        decoded = split_utf8(data)
        if decoded is None or decoded[1] is not None:
            return False
        state = self._state_after(decoded[0])
        return any(state.columns[position].accepts for position in state.starts)

    def is_viable_prefix(self, data: bytes) -> bool:
        """Whether some continuation of ``data`` is a word of the language."""
        decoded = split_utf8(data)
        if decoded is None:
            return False
        text, completion = decoded
        state = self._state_after(text)
        if completion is None:
            return bool(state.starts or state.runs)
        low, high = completion
        return any(
            self._automata[terminal].can_continue_within(states, low, high)
            for (_ignored, terminal, _start), (states, _columns) in state.runs.items()
        )

    def _state_after(self, text: str) -> _ParseState:
        if self._trie_size > _MAX_TRIE_NODES:
            self._root.children.clear()
            self._trie_size = 0
        node = self._root
        for char in text:
            child = node.children.get(char)
            if child is None:
                child = node.children[char] = _TrieNode(self._advance(node.state, char))
                self._trie_size += 1
            node = child
        return node.state

    def _advance(self, state: _ParseState, char: str) -> _ParseState:
        """Read one character: step every running lexeme and settle the new column."""
        if not state.runs:
            return self._dead
        runs: dict[_RunKey, tuple[frozenset[int], frozenset[int]]] = {}
        finished: list[_Item] = []
        starts: set[int] = set()
        for key, (states, columns) in state.runs.items():
            is_ignored, terminal, _start = key
            automaton = self._automata[terminal]
            after = automaton.step(states, char)
            if not after:
                continue
            runs[key] = (after, columns)
            if automaton.is_accepting(after):
                if is_ignored:
                    starts |= columns
                else:
                    for column in columns:
                        finished += _advanced(state.columns[column].waiting_for_terminal[terminal])
        return self._settle(state.columns, finished, starts, runs)

    def _settle(
        self,
        previous: tuple[_Column, ...],
        incoming: list[_Item],
        starts: Iterable[int] = (),
        runs: dict[_RunKey, tuple[frozenset[int], frozenset[int]]] | None = None,
    ) -> _ParseState:
        """Close the column at ``len(previous)`` and start every lexeme that may begin there."""
        position = len(previous)
        column = _Column()
        columns = (*previous, column)
        starts = set(starts)
        runs = dict(runs or {})
        pending = list(incoming)
        while pending:
            self._add_item(columns, position, pending.pop(), pending)
        if column.items:
            starts.add(position)
        self._start_lexemes(columns, position, starts, runs)
        column.accepts = any(
            origin == 0 and self._rules[rule][0] == self._start_symbol and dot == len(self._rules[rule][1])
            for rule, dot, origin in column.items
        )
        return _ParseState(columns, runs, frozenset(starts))

    def _add_item(self, columns, position: int, item: _Item, pending: list[_Item]) -> None:
        column = columns[position]
        if item in column.items:
            return
        column.items.add(item)
        rule, dot, origin = item
        lhs, rhs = self._rules[rule]
        if dot == len(rhs):
            if origin == position:
                column.completed_empty.add(lhs)
            pending += _advanced(columns[origin].waiting_for_rule.get(lhs, ()))
            return
        symbol = rhs[dot]
        if isinstance(symbol, NonTerminal):
            column.waiting_for_rule.setdefault(symbol.name, []).append(item)
            if symbol.name in column.completed_empty:
                pending.append((rule, dot + 1, origin))
            pending += [(predicted, 0, position) for predicted in self._rules_by_lhs.get(symbol.name, ())]
        else:
            column.waiting_for_terminal.setdefault(symbol, []).append(item)
            if self._automata[symbol].accepts_empty:
                pending.append((rule, dot + 1, origin))

    def _start_lexemes(self, columns, position: int, starts: set[int], runs: dict) -> None:
        """Register every lexeme that may begin here, after each column in ``starts``.

        Empty lexemes are not matched here: ``_add_item`` steps over them in the column that
        expects them, and ignored lexemes after them then count as preceding the next lexeme,
        which splits the text the same way.
        """
        for start in starts:
            expected = [(False, t) for t in columns[start].waiting_for_terminal]
            expected += [(True, t) for t in self._ignored]
            for is_ignored, terminal in expected:
                key = (is_ignored, terminal, position)
                states, owners = runs.get(key, (self._automata[terminal].start, frozenset()))
                runs[key] = (states, owners | {start})


def _advanced(items) -> list[_Item]:
    return [(rule, dot + 1, origin) for rule, dot, origin in items]


def _productive_rules(grammar: Grammar, productive_terminals: set[Terminal]) -> list[tuple[str, tuple]]:
    """The rules whose every symbol derives some text; the others can never complete."""
    productive: set[str] = set()
    changed = True
    while changed:
        changed = False
        for rule in grammar.rules:
            if rule.lhs not in productive and _all_productive(rule.rhs, productive, productive_terminals):
                productive.add(rule.lhs)
                changed = True
    return [
        (rule.lhs, rule.rhs)
        for rule in grammar.rules
        if _all_productive(rule.rhs, productive, productive_terminals)
    ]


def _all_productive(rhs, productive: set[str], productive_terminals: set[Terminal]) -> bool:
    return all(
        symbol.name in productive if isinstance(symbol, NonTerminal) else symbol in productive_terminals
        for symbol in rhs
    )
