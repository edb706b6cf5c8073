"""The additive-infilling checker: can a partial output with holes still become a word?

Following Mündler, Dekoninck and Vechev (2025), a partial output defines a regular
language R of completions (the canvas automaton), and the question is whether
L(grammar) ∩ R is non-empty. It is decided exactly, on bytes, by an Earley search over
the canvas automaton (see ``earley_graph``) that never builds the product grammar. The
semantics is the engine's: any split of the text into lexemes, ignored lexemes anywhere
between them.
"""

from __future__ import annotations

import enum
import math

from constrain.compiled_grammar import CompiledGrammar
from constrain.infill.canvas import Canvas
from constrain.infill.deadline import Deadline, OutOfTime
from constrain.infill.earley_graph import start_spans_to_final
from constrain.infill.reach import Reach, TerminalTable, terminal_table
from constrain.infill.segments import InfillError, flatten_segments
from constrain.infill.vocab_automaton import vocab_automaton


class Verdict(enum.Enum):
    COMPLETABLE = "completable"
    NOT_COMPLETABLE = "not completable"
    TIMEOUT = "timeout"  # the budget ran out; decoding loops treat it as a rejection


class Checker:
    """Decides additive infilling for one compiled grammar over its vocabulary.

    Build it once per grammar: it keeps the terminal tables and (lazily) the vocabulary
    automaton that bounded holes use, so each check only pays for its own search.
    """

    def __init__(self, compiled_grammar: CompiledGrammar):
        if not isinstance(compiled_grammar, CompiledGrammar):
            raise InfillError(
                f"Checker needs a CompiledGrammar (from constrain.compile_grammar and friends), "
                f"got {type(compiled_grammar).__name__}"
            )
        self.compiled_grammar = compiled_grammar
        self.grammar = compiled_grammar.automaton.parser.grammar
        self.vocab = compiled_grammar.vocab
        self._tables: tuple[TerminalTable, ...] = tuple(terminal_table(d) for d in self.grammar.terminal_dfas)

    def is_completable(self, segments: object) -> bool:
        """Exact answer without a time limit (may take long on huge bounded holes)."""
        return self.check(segments) is Verdict.COMPLETABLE

    def check(self, segments: object, timeout: float | None = None) -> Verdict:
        """COMPLETABLE or NOT_COMPLETABLE, or TIMEOUT once ``timeout`` seconds are spent."""
        if timeout is not None and (
            not isinstance(timeout, int | float)
            or isinstance(timeout, bool)
            or math.isnan(timeout)
            or timeout < 0
        ):
            raise InfillError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")
        pieces = flatten_segments(segments, self.vocab)
        deadline = Deadline(timeout)
        try:
            deadline.tick()
            automaton = (
                vocab_automaton(self.vocab)
                if any(not isinstance(p, bytes) and p.is_bounded for p in pieces)
                else None
            )
            canvas = Canvas(pieces, automaton)
            reach = Reach(canvas, self._tables, self.grammar.ignore, deadline)
            found = start_spans_to_final(self.grammar, reach)
        except OutOfTime:
            return Verdict.TIMEOUT
        return Verdict.COMPLETABLE if found else Verdict.NOT_COMPLETABLE
