"""Scalar formulas as byte automata over JSON texts (quotes and escapes included).

Every automaton built here is *sound*: it accepts only texts whose value satisfies the
formula. Strings are also complete (every escaping of every valid value). Numbers are
complete on plain decimals (``-12.50``) but, as ``json_lexemes`` documents, accept
exponent forms (``1e5``) only where the sign alone decides the constraint. So ``Not``
is taken relative to all plain decimals for numbers (the complement of a language that
lacks some exponent forms would otherwise wrongly gain them) and to all JSON strings
for strings; integers are the integer-valued plain decimals (``3`` and ``3.0``), or for
draft-04 the plain digit strings (``3``).

Automata are cached per formula, so emptiness checks made while simplifying and the
terminals of the final grammar share the work. A combination of ``StringAtom``s is
computed on decoded values and escaped once (``json_string_value_dfa`` says why that is
exact); its emptiness needs no escaping at all.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import replace

import numpy as np

from constrain.byte_dfa import ByteDFA, compile_regex_dfa
from constrain.errors import CompileBudgetError, GrammarError, SchemaError, UnsupportedSchemaError
from constrain.json_lexemes import (
    json_integer_dfa,
    json_number_dfa,
    json_string_dfa,
    json_string_encodings,
    json_string_value_dfa,
)
from constrain.json_lexemes.automata import finite_words, trie_dfa
from constrain.json_lexemes.formats import FORMAT_REGEXES
from constrain.json_lexemes.literals import departures_dfa, fragment_dfa, literals_dfa, other_literals_dfa
from constrain.json_lexemes.utf8 import utf8_table
from constrain.json_schema.context import Context
from constrain.json_schema.nodes import (
    DIGITS_INTEGER,
    FALSE,
    INTEGER,
    TRUE,
    And,
    Formula,
    Not,
    NumberAtom,
    Or,
    StringAtom,
    Values,
)

PLAIN_DECIMAL = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"
INTEGER_VALUED = r"-?(?:0|[1-9][0-9]*)(?:\.0+)?"
_SPELLED_OUT = 128  # key classes of at most this many names (or all but them) are spelled out
EMPTY_DFA = ByteDFA(np.zeros((0, 256), dtype=np.int32), np.zeros(0, dtype=np.bool_))


class _SharedAutomata:
    """Automata that are pure functions of their key, shared by all compilations.

    Most schemas repeat the same few string and number constraints. Bounded by total
    states (a state is a 1 KiB table row), least recently used out first.
    """

    def __init__(self, max_states: int):
        self.max_states = max_states
        self._entries: OrderedDict[tuple[str, Hashable], ByteDFA] = OrderedDict()
        self._states = 0

    def __call__(self, kind: str, key: Hashable, build: Callable[[], ByteDFA]) -> ByteDFA:
        entry = (kind, key)
        if entry in self._entries:
            self._entries.move_to_end(entry)
            return self._entries[entry]
        dfa = build()
        if dfa.n_states <= self.max_states // 10:
            self._entries[entry] = dfa
            self._states += dfa.n_states
            while self._states > self.max_states:
                self._states -= self._entries.popitem(last=False)[1].n_states
        return dfa


_shared = _SharedAutomata(max_states=100_000)


class ScalarAutomata:
    """Builds and caches the automata of string and number formulas."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._strings: dict[Formula, ByteDFA] = {}
        self._numbers: dict[Formula, ByteDFA] = {}
        self._decoded: dict[Formula, ByteDFA] = {}

    # -- languages -----------------------------------------------------------------

    def string_dfa(self, formula: Formula) -> ByteDFA:
        if formula not in self._strings and _quotes_once(formula):
            decoded, deadline = self._string_values(formula), self.ctx.budget.deadline
            self._strings[formula] = _located(
                _pointer_of(formula), lambda: json_string_encodings(decoded, deadline=deadline)
            )
        universe = _shared("string", TRUE, json_string_dfa)
        return self._build(formula, self._strings, self._string_atom, universe, universe, self.string_dfa)

    def number_dfa(self, formula: Formula) -> ByteDFA:
        universe = _shared("number", TRUE, json_number_dfa)
        plain = compile_regex_dfa(PLAIN_DECIMAL)
        return self._build(formula, self._numbers, self._number_atom, universe, plain, self.number_dfa)

    def string_is_empty(self, formula: Formula) -> bool:
        if _quotes_once(formula):
            return self._string_values(formula).is_empty  # quoting keeps emptiness
        return self._is_empty(formula, self.string_dfa)

    def number_is_empty(self, formula: Formula) -> bool:
        return self._is_empty(formula, self.number_dfa)

    @staticmethod
    def _is_empty(formula: Formula, dfa: Callable[[Formula], ByteDFA]) -> bool:
        if formula == FALSE:
            return True
        if formula == TRUE or (isinstance(formula, Values) and formula.values):
            return False
        return dfa(formula).is_empty

    def _build(
        self,
        formula: Formula,
        cache: dict[Formula, ByteDFA],
        atom: Callable[[StringAtom | NumberAtom | Values], ByteDFA],
        universe: ByteDFA,
        complement_universe: ByteDFA,
        build: Callable[[Formula], ByteDFA],
    ) -> ByteDFA:
        """``formula``'s automaton from its parts' (``build``, which may take another route)."""
        if formula in cache:
            return cache[formula]
        self.ctx.budget.check_time(getattr(formula, "pointer", ""))
        if isinstance(formula, And):
            # Every part's automaton lies within the universe already (atoms are typed
            # lexemes, ``Not`` subtracts from a subset of it), so the universe only stands
            # for the empty conjunction: intersecting with it would be a wasted product.
            dfa = build(formula.parts[0]) if formula.parts else universe
            for part in formula.parts[1:]:
                if dfa.is_empty:
                    break
                dfa = dfa.intersect(build(part))
        elif isinstance(formula, Or):
            dfa = _union_all([build(part) for part in formula.parts])
        elif isinstance(formula, Not):
            dfa = complement_universe.difference(build(formula.part))
        else:
            dfa = atom(formula)
        cache[formula] = dfa
        return dfa

    def _string_values(self, formula: Formula) -> ByteDFA:
        """The decoded values (UTF-8 bytes) of a formula over ``StringAtom``s (``_quotes_once``)."""
        if formula in self._decoded:
            return self._decoded[formula]
        self.ctx.budget.check_time(_pointer_of(formula))
        every = _shared("utf-8", TRUE, lambda: ByteDFA(*utf8_table()))
        if isinstance(formula, And):
            dfa = self._string_values(formula.parts[0]) if formula.parts else every
            for part in formula.parts[1:]:
                if dfa.is_empty:
                    break
                dfa = dfa.intersect(self._string_values(part))
        elif isinstance(formula, Or):
            dfa = _union_all([self._string_values(part) for part in formula.parts])
        elif isinstance(formula, Not):
            dfa = every.difference(self._string_values(formula.part))
        else:
            assert isinstance(formula, StringAtom)
            dfa = self._string_atom_values(formula)
        self._decoded[formula] = dfa
        return dfa

    def _string_atom_values(self, atom: StringAtom) -> ByteDFA:
        return self._string_atom_dfa(atom, "string values", json_string_value_dfa)

    def _string_atom(self, atom: StringAtom | NumberAtom | Values) -> ByteDFA:
        if isinstance(atom, Values):
            return _shared("string", atom, lambda: json_string_dfa(enum_of=sorted(atom.values)))
        assert isinstance(atom, StringAtom)
        return self._string_atom_dfa(atom, "string", json_string_dfa)

    def _string_atom_dfa(self, atom: StringAtom, kind: str, compile_dfa: Callable[..., ByteDFA]) -> ByteDFA:
        """The atom's automaton from ``compile_dfa`` (escaped text or decoded values), shared per
        kind; a pattern that cannot be compiled is refused (dropped with a warning if lenient)."""

        def build() -> ByteDFA:
            return compile_dfa(
                min_length=atom.min_length,
                max_length=atom.max_length,
                pattern=atom.pattern,
                format=atom.format,
                deadline=self.ctx.budget.deadline,
            )

        try:
            return _shared(kind, atom, lambda: _located(atom.pointer, build))
        except UnsupportedSchemaError as error:
            if error.keyword != "pattern":
                raise
            self.ctx.refuse_error(error, atom.pointer)
            return self._string_atom_dfa(replace(atom, pattern=None), kind, compile_dfa)

    def _number_atom(self, atom: StringAtom | NumberAtom | Values) -> ByteDFA:
        if isinstance(atom, Values):
            values = sorted(atom.values)
            return _shared("number", atom, lambda: _union_all([json_number_dfa(v, v) for v in values]))
        assert isinstance(atom, NumberAtom)

        def build() -> ByteDFA:
            bounds = {
                "minimum": atom.minimum,
                "maximum": atom.maximum,
                "exclusive_minimum": atom.exclusive_minimum,
                "exclusive_maximum": atom.exclusive_maximum,
                "multiple_of": atom.multiple_of,
            }
            if atom.integer == DIGITS_INTEGER:
                return json_integer_dfa(**bounds)
            numbers = json_number_dfa(**bounds)
            return (
                numbers.intersect(compile_regex_dfa(INTEGER_VALUED)) if atom.integer == INTEGER else numbers
            )

        try:
            return _shared("number", atom, lambda: _located(atom.pointer, build))
        except UnsupportedSchemaError as error:
            if error.keyword != "multipleOf":
                raise
            self.ctx.refuse_error(error, atom.pointer)
            return self._number_atom(replace(atom, multiple_of=None))

    # -- keys ----------------------------------------------------------------------

    def key_literal_dfa(self, key: str) -> ByteDFA:
        """Every JSON spelling of the string ``key`` (each escaping of each character)."""
        return self.string_dfa(Values(frozenset({key})))

    def key_allowed(self, names: Formula, key: str) -> bool:
        """Whether ``key`` satisfies the ``propertyNames`` formula ``names``."""
        if names == TRUE:
            return True
        return self.string_dfa(names).matches(json.dumps(key, ensure_ascii=False).encode())

    def decoded_keys_except(self, keys: frozenset[str]) -> ByteDFA:
        """Every key value (UTF-8 bytes, not JSON-escaped) other than ``keys``."""
        every = _shared("decoded", TRUE, lambda: compile_regex_dfa("(?s:.)*"))
        words = [key.encode("utf-8") for key in sorted(keys) if not _has_lone_surrogate(key)]
        if not words:
            return every
        return _shared("decoded", keys, lambda: every.difference(trie_dfa(words)))

    def encoded_keys_except(self, keys: frozenset[str]) -> ByteDFA:
        """Every JSON string literal except the spellings of ``keys``."""
        universe = _shared("string", TRUE, json_string_dfa)
        return _shared("encoded keys", keys, lambda: other_literals_dfa(sorted(keys), universe))

    @staticmethod
    def key_piece_dfa(text: str, *, opens: bool, closes: bool) -> ByteDFA:
        """A piece of a property name (``key_tree``): its characters' spellings, after the
        opening quote if ``opens``, before the closing one if ``closes``."""
        return _shared(
            "key piece",
            (text, opens, closes),
            lambda: fragment_dfa(text, open_quote=opens, close_quote=closes),
        )

    @staticmethod
    def key_departures_dfa(pieces: tuple[tuple[str, bool], ...], *, opens: bool) -> ByteDFA:
        """The rests of string literals that start with none of ``pieces`` (``key_tree``)."""
        universe = _shared("string", TRUE, json_string_dfa)
        return _shared(
            "key departures", (pieces, opens), lambda: departures_dfa(pieces, universe, open_quote=opens)
        )

    @staticmethod
    def decoded_pattern(pattern: str) -> ByteDFA:
        """The key values (UTF-8 bytes) in which the ECMA-262 ``pattern`` matches."""
        return compile_regex_dfa(pattern, "ecma", search=True)

    def encoded(self, decoded: ByteDFA, pointer: str) -> ByteDFA:
        """The JSON string literals of the values of ``decoded``.

        Key classes are often a few names (a pattern like ``^id$``) or all names but a
        few; those are spelled out (``literals``), much cheaper than escaping a decoded
        automaton, and the same language.
        """
        deadline = self.ctx.budget.deadline

        def build() -> ByteDFA:
            words = finite_words(decoded, _SPELLED_OUT)
            if words is not None:
                return literals_dfa([word.decode() for word in words])
            if decoded.matches(b"a" * (decoded.n_states + 1)):  # a co-finite set accepts these
                every = _shared("utf-8", TRUE, lambda: ByteDFA(*utf8_table()))
                words = finite_words(every.difference(decoded), _SPELLED_OUT)
                if words is not None:
                    universe = _shared("string", TRUE, json_string_dfa)
                    return other_literals_dfa([word.decode() for word in words], universe)
            return json_string_encodings(decoded, deadline=deadline)

        return _shared("encoded", decoded, lambda: _located(pointer, build))

    def pattern_matches(self, pattern: str, key: str) -> bool:
        """ECMA-262 ``pattern`` found somewhere in ``key`` (JSON Schema's ``pattern``)."""
        return compile_regex_dfa(pattern, "ecma", search=True).matches(key.encode("utf-8", "surrogatepass"))

    def check_pattern(self, pattern: str, pointer: str) -> str | None:
        """``pattern`` if the ECMA-262 regex compiles; else refuse it (None when lenient)."""
        try:
            compile_regex_dfa(pattern, "ecma", search=True, deadline=self.ctx.budget.deadline)
        except CompileBudgetError as error:
            raise CompileBudgetError(f"{error}; too large: {pointer or '#'}") from error
        except GrammarError as error:
            self.ctx.refuse("pattern", f"{pattern!r} cannot be compiled: {error}", pointer)
            return None
        return pattern

    def pattern_is_trivial(self, pattern: str) -> bool:
        """Whether ``pattern`` is found in every string (it matches the empty string anywhere).

        Such a pattern constrains nothing; dropping it keeps a long ``maxLength`` countable
        by rules (``long_strings``) instead of by an automaton.
        """
        every = _shared("decoded", TRUE, lambda: compile_regex_dfa("(?s:.)*"))
        return every.difference(self.decoded_pattern(pattern)).is_empty

    @staticmethod
    def format_supported(name: str) -> bool:
        return name in FORMAT_REGEXES  # without compiling the automaton yet


def _quotes_once(formula: Formula) -> bool:
    """Whether ``formula`` is built from decoded values and quoted once (``json_string_value_dfa``).

    That is cheaper for a combination of ``StringAtom``s. A lone atom keeps its quoted
    automaton (shared by all compilations) and ``TRUE`` the universe; finite sets keep the
    direct spelling of their literals (``literals``), which beats quoting a decoded trie.
    """
    return isinstance(formula, And | Or | Not) and formula != TRUE and _atoms_only(formula)


def _atoms_only(formula: Formula) -> bool:
    if isinstance(formula, And | Or):
        return all(_atoms_only(part) for part in formula.parts)
    if isinstance(formula, Not):
        return _atoms_only(formula.part)
    return isinstance(formula, StringAtom)


def _pointer_of(formula: Formula) -> str:
    """The pointer of the first atom of ``formula`` (where its errors are reported)."""
    if isinstance(formula, And | Or):
        return next((p for p in map(_pointer_of, formula.parts) if p), "")
    if isinstance(formula, Not):
        return _pointer_of(formula.part)
    return getattr(formula, "pointer", "")


def _has_lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(char) <= 0xDFFF for char in text)


def _located(pointer: str, build: Callable[[], ByteDFA]) -> ByteDFA:
    """Run a lexeme builder, re-raising its pointer-less errors at the schema's pointer."""
    try:
        return build()
    except CompileBudgetError as error:
        raise CompileBudgetError(f"{error}; too large: {pointer or '#'}") from error
    except UnsupportedSchemaError as error:
        if error.pointer:
            raise
        message = str(error).removesuffix(" (at #)").removeprefix(f"unsupported keyword {error.keyword!r}: ")
        raise UnsupportedSchemaError(error.keyword, message, pointer=f"{pointer}/{error.keyword}") from error
    except SchemaError as error:
        if error.pointer:
            raise
        raise SchemaError(str(error).removesuffix(" (at #)"), pointer=pointer) from error


def _union_all(dfas: list[ByteDFA]) -> ByteDFA:
    """Union by balanced pairs: n automata cost O(n log n) product states, not O(n^2)."""
    if not dfas:
        return EMPTY_DFA
    while len(dfas) > 1:
        dfas = [dfas[i].union(dfas[i + 1]) if i + 1 < len(dfas) else dfas[i] for i in range(0, len(dfas), 2)]
    return dfas[0]
