"""Typed nodes -> grammar IR: one nonterminal per (node, depth), terminals from automata.

Scalars become single terminals (their byte automata), containers become rules built by
``grammar_objects`` and ``grammar_arrays``, references become shared nonterminals, which
is all a recursive schema needs. Nonterminals are named before their rules are made and
made from a work queue, so recursion never recurses in Python. A final pass keeps the
productive rules only: a subschema with no instance simply disappears, and a root with
no instance is reported as ``UnsatisfiableSchemaError``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from constrain.byte_dfa import ByteDFA
from constrain.errors import UnsatisfiableSchemaError
from constrain.ir import Grammar, NonTerminal, Rule, Symbol, Terminal
from constrain.json_schema.grammar_arrays import array_rules
from constrain.json_schema.grammar_objects import object_rules
from constrain.json_schema.layout import Layout
from constrain.json_schema.long_strings import is_long_string, long_string
from constrain.json_schema.lower import Lowerer
from constrain.json_schema.nodes import FALSE, NOTHING, Formula, Node
from constrain.json_schema.repeat import Repeater

_LITERALS = {"null": "NULL", "true": "TRUE", "false": "FALSE"}


class GrammarBuilder:
    """Emits the rules of a lowered schema; ``build(root)`` returns the finished Grammar."""

    def __init__(self, lowerer: Lowerer, layout: Layout):
        self.lowerer = lowerer
        self.ctx = lowerer.ctx
        self.algebra = lowerer.algebra
        self.scalars = lowerer.scalars
        self.layout = layout
        self.rules: list[Rule] = []
        self.repeater = Repeater(self.emit, self.fresh)
        self._counter = 0
        self._values: dict[tuple[Node, int], NonTerminal] = {}
        self._terminals: dict[Hashable, Terminal | None] = {}
        self._queue: deque[Callable[[], None]] = deque()
        self._pointer = ""
        self.cache: dict[Hashable, Any] = {}

    # -- plumbing ------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter}"

    def emit(self, rule: Rule) -> None:
        self.rules.append(rule)
        self.ctx.budget.check_rules(len(self.rules), self._pointer)

    def rule(self, lhs: NonTerminal, *rhs: Symbol) -> None:
        self.emit(Rule(lhs.name, rhs))

    def terminal(self, key: Hashable, name: str, make: Callable[[], str | ByteDFA]) -> Terminal | None:
        """The terminal for ``key`` (made once); None when its language is empty."""
        if key not in self._terminals:
            pattern = make()
            empty = isinstance(pattern, ByteDFA) and pattern.is_empty
            self._terminals[key] = None if empty else Terminal(self.fresh(name), pattern)
        return self._terminals[key]

    def literal(self, text: str) -> Terminal:
        terminal = self.terminal(("literal", text), _LITERALS[text], lambda: re.escape(text))
        assert terminal is not None
        return terminal

    # -- values --------------------------------------------------------------------

    def build(self, root: Node) -> Grammar:
        start = NonTerminal("start")
        value = self.value(root, 0)
        outer = self.layout.outer  # whitespace before and after the value, when flexible
        for rhs in ((outer, value, outer), (outer, value), (value, outer)) if outer else ():
            self.rule(start, *rhs)
        self.rule(start, value)
        while self._queue:
            self._queue.popleft()()
        rules = productive_rules(self.rules)
        if not any(rule.lhs == start.name for rule in rules):
            raise UnsatisfiableSchemaError("schema is unsatisfiable: no instance can satisfy it")
        return Grammar(rules=tuple(rules), start=start.name)

    def value(self, node: Node, depth: int) -> NonTerminal:
        """The nonterminal deriving the JSON texts of ``node`` at nesting ``depth``."""
        node = self._unalias(node)
        key = (node, self.layout.depth_key(depth))
        if key not in self._values:
            nt = NonTerminal(self.fresh("value"))
            self._values[key] = nt
            self._queue.append(lambda: self._value_rules(nt, node, depth))
        return self._values[key]

    def _unalias(self, node: Node) -> Node:
        """Follow references that are the whole node (``A = B``); a cycle of them is empty."""
        seen = set()
        while node.refs and node == Node(refs=node.refs) and len(node.refs) == 1:
            if node.refs[0] in seen:
                return NOTHING
            seen.add(node.refs[0])
            node = self.ctx.body(node.refs[0])
        return node

    def _value_rules(self, nt: NonTerminal, node: Node, depth: int) -> None:
        self.ctx.budget.check_time(self._pointer)
        if node.null:
            self.rule(nt, self.literal("null"))
        for flag in sorted(node.booleans):
            self.rule(nt, self.literal("true" if flag else "false"))
        number = self._scalar(node.number, "NUMBER", self.scalars.number_dfa)
        if number is not None:
            self.rule(nt, number)
        if is_long_string(node.string):
            key = ("long string", node.string)
            if key not in self.cache:
                self.cache[key] = long_string(self, node.string)
            self.rule(nt, self.cache[key])
        else:
            string = self._scalar(node.string, "STRING", self.scalars.string_dfa)
            if string is not None:
                self.rule(nt, string)
        if not self.layout.too_deep(depth):
            for shape in node.arrays:
                self._pointer = shape.pointer
                self._container(nt, array_rules(self, shape, depth))
            for shape in node.objects:
                self._pointer = shape.pointer
                self._container(nt, object_rules(self, shape, depth))
        for key in node.refs:
            self.rule(nt, self.value(Node(refs=(key,)), depth))

    def _scalar(self, formula: Formula, kind: str, dfa: Callable[[Formula], ByteDFA]) -> Terminal | None:
        if formula == FALSE:
            return None
        return self.terminal((kind, formula), kind, lambda: dfa(formula))

    def _container(self, nt: NonTerminal, body: NonTerminal | None) -> None:
        if body is not None:
            self.rule(nt, body)


def productive_rules(rules: list[Rule]) -> list[Rule]:
    """The rules whose every nonterminal derives some text (terminals are never empty here).

    Linear time: each rule waits on a count of not-yet-productive nonterminals.
    """
    needs = [{s.name for s in rule.rhs if isinstance(s, NonTerminal)} for rule in rules]
    waiting = [len(names) for names in needs]
    uses: dict[str, list[int]] = {}
    for index, names in enumerate(needs):
        for name in names:
            uses.setdefault(name, []).append(index)
    productive: set[str] = set()
    ready = [index for index, count in enumerate(waiting) if count == 0]
    while ready:
        lhs = rules[ready.pop()].lhs
        if lhs in productive:
            continue
        productive.add(lhs)
        for index in uses.get(lhs, ()):
            waiting[index] -= 1
            if waiting[index] == 0:
                ready.append(index)
    return [rule for rule, count in zip(rules, waiting, strict=True) if count == 0 and rule.lhs in productive]
