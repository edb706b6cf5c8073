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
from constrain.infill.chain import ChainCanvas, common_prefix
from constrain.infill.columns import ColumnSearch, TooCostly, Trace, resume_point, search
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
KEPT_TRACES = 4  # searches kept per vocabulary automaton for later checks to resume from
COLUMN_BUDGET = 100_000  # items the column search may close per check before the graph search takes over
LONG_RUN = 32  # a bounded hole with more token slots than this (not at the end) goes to the graph search
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

    With ``reuse`` (the default) it also keeps its last few searches over canvases whose holes
    are all bounded, and a check whose canvas begins like a kept one resumes that search where
    the two canvases part (see :mod:`constrain.infill.columns`): consecutive checks of a
    diffusion decoder differ at one position. The answers are the same either way.
    """

    def __init__(self, compiled_grammar: CompiledGrammar, *, reuse: bool = True):
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
        self._columns = ColumnSearch(self.grammar, self._tables, self.grammar.ignore)
        self._kept = KEPT_TRACES if reuse else 0
        self._traces: dict[object, list[Trace]] = {}
        self._costly: list[tuple[ChainCanvas, int]] = []  # canvases, and where the budget ran out

    def forget(self) -> None:
        """Drop the searches kept for later checks to resume from (they only ever save time)."""
        self._traces.clear()
        self._costly.clear()

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
        """The column search (resuming a kept one) when it pays; else, or over budget, the graph search."""
        canvas = ChainCanvas(pieces) if _columns_pay(pieces) else None  # type: ignore[arg-type]
        if canvas is not None and not any(common_prefix(c, canvas) >= end for c, end in self._costly):
            kept = self._traces.setdefault(canvas.automaton, [])
            base, index, dead = resume_point(kept, canvas)
            if dead:
                return Verdict.NOT_COMPLETABLE
            try:
                found, trace = search(self._columns, canvas, deadline, base, index, COLUMN_BUDGET)
            except TooCostly as costly:
                self._costly.insert(0, (canvas, costly.chain))
                del self._costly[KEPT_TRACES:]
            else:
                if self._kept:
                    kept.insert(0, trace)
                    del kept[self._kept :]
                return Verdict.COMPLETABLE if found else Verdict.NOT_COMPLETABLE
        reach = Reach(Canvas(pieces), self._tables, self.grammar.ignore, deadline)
        found = start_spans_to_final(self.grammar, reach)
        return Verdict.COMPLETABLE if found else Verdict.NOT_COMPLETABLE


def _columns_pay(pieces: list[CanvasPiece]) -> bool:
    """Whether the column search suits the canvas: it needs every hole bounded, and it closes every
    state of a hole in full, which costs about the cube of the hole's length, while the graph search
    goes depth first and stops at the first word it finds. A run at the end is cheap for both: its
    boundaries are final, so the column search stops at the shortest completion too."""
    return all(
        isinstance(p, bytes) or (isinstance(p, TokenRun) and (p.count <= LONG_RUN or i == len(pieces) - 1))
        for i, p in enumerate(pieces)
    )


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
