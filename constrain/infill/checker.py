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
from constrain.infill.canvas import Canvas, CanvasPiece, TokenRun
from constrain.infill.deadline import Deadline, OutOfTime
from constrain.infill.earley_graph import start_spans_to_final
from constrain.infill.reach import Reach, TerminalTable, terminal_table
from constrain.infill.segments import Hole, InfillError, Piece, flatten_segments
from constrain.infill.vocab_automaton import (
    VocabAutomaton,
    short_token_automaton,
    single_byte_automaton,
    single_byte_tokens,
    vocab_automaton,
)

SMALL_AUTOMATON = 64  # vocabulary automata up to this size are searched exactly at once
SHORT_TOKEN = 2  # the second narrowing keeps the tokens of at most this many bytes
ANY_BYTE = single_byte_automaton((1 << 256) - 1)


class Verdict(enum.Enum):
    """The answer of :meth:`Checker.check`."""

    COMPLETABLE = "completable"
    NOT_COMPLETABLE = "not completable"
    TIMEOUT = "timeout"  # the budget ran out; decoding loops treat it as a rejection


class Checker:
    """Decides additive infilling for one compiled grammar over its vocabulary.

    Build it once per grammar: it keeps the terminal tables and the vocabulary automaton
    that bounded holes use (built here, about 2 s for a 128k vocabulary, then cached per
    vocabulary), so each check only pays for its own search and its timeout means what it says.
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
        self._tokens = vocab_automaton(self.vocab)
        self._narrowed = (
            single_byte_automaton(single_byte_tokens(self._tokens)),
            short_token_automaton(self.vocab, SHORT_TOKEN),
        )

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
            return self._decide(pieces, deadline)
        except OutOfTime:
            return Verdict.TIMEOUT

    def _decide(self, pieces: list[Piece], deadline: Deadline) -> Verdict:
        if not any(isinstance(p, Hole) and p.is_bounded for p in pieces):
            return self._search(pieces, deadline)
        exact = [_exact_piece(p, self._tokens) for p in pieces]
        if self._tokens.n_states <= SMALL_AUTOMATON:
            return self._search(exact, deadline)
        if self._search(_widened(pieces), deadline) is Verdict.NOT_COMPLETABLE:
            return Verdict.NOT_COMPLETABLE
        for automaton in self._narrowed:
            if self._search([_exact_piece(p, automaton) for p in pieces], deadline) is Verdict.COMPLETABLE:
                return Verdict.COMPLETABLE
        return self._search(exact, deadline)

    def _search(self, pieces: list[CanvasPiece], deadline: Deadline) -> Verdict:
        reach = Reach(Canvas(pieces), self._tables, self.grammar.ignore, deadline)
        return Verdict.COMPLETABLE if start_spans_to_final(self.grammar, reach) else Verdict.NOT_COMPLETABLE


def _exact_piece(piece: Piece, automaton: VocabAutomaton) -> CanvasPiece:
    """A bounded hole as ``bound`` slots of ``automaton``; other pieces unchanged."""
    if isinstance(piece, Hole) and piece.is_bounded:
        return TokenRun(piece.bound, piece.exact, automaton)
    return piece


def _widened(pieces: list[Piece]) -> list[CanvasPiece]:
    """Each ``k``-token hole as at least ``k`` bytes, each ``max_tokens`` hole as any bytes."""
    out: list[CanvasPiece] = []
    for piece in pieces:
        if isinstance(piece, Hole) and piece.is_bounded:
            if piece.exact:
                out.append(TokenRun(piece.bound, True, ANY_BYTE))
            out.append(Hole())
        else:
            out.append(piece)
    return out
