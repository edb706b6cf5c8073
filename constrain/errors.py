"""One exception root for everything constrain raises on bad input.

Callers catch :class:`ConstrainError` to handle just this library's errors; the
subclasses also derive from ``ValueError`` because every one of them means "the
input you gave is not usable", which is what ``ValueError`` says in Python.
"""

from __future__ import annotations


class ConstrainError(Exception):
    """Root of all errors raised by constrain."""


class GrammarError(ConstrainError, ValueError):
    """A grammar or regex that cannot be compiled, with its position when known."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "")
            message = f"{message} (at {where})"
        super().__init__(message)


class CompileBudgetError(GrammarError):
    """Compilation would exceed its time or size budget; the message names the part too large."""


class VocabularyError(ConstrainError, ValueError):
    """A tokenizer whose vocabulary cannot be used (unknown format, unrecoverable bytes, empty)."""


class SchemaError(ConstrainError, ValueError):
    """An invalid JSON Schema; ``pointer`` is the JSON pointer of the offending part."""

    def __init__(self, message: str, *, pointer: str = ""):
        self.pointer = pointer
        super().__init__(f"{message} (at {pointer or '#'})")


class UnsupportedSchemaError(SchemaError):
    """A valid schema using a keyword the engine cannot enforce exactly; names keyword and pointer."""

    def __init__(self, keyword: str, message: str, *, pointer: str = ""):
        self.keyword = keyword
        super().__init__(f"unsupported keyword {keyword!r}: {message}", pointer=pointer)


class MatcherError(ConstrainError, ValueError):
    """A matcher call with an argument out of range (token id, rollback count, mask shape)."""


class UnsatisfiableSchemaError(SchemaError):
    """A schema no instance satisfies (``false``, an empty ``enum``, ``minimum > maximum``...).

    Detected at compile time, before any generation: its verdict is "every instance is invalid".
    """


class ModelLoadError(ConstrainError, ValueError):
    """A model that cannot be loaded: unknown name, missing package or unreadable directory."""


class InfillError(ConstrainError, ValueError):
    """Bad input to the infilling checker: a malformed segment, token id or hole bound."""


class SamplingError(ConstrainError, ValueError):
    """A sampler used wrongly: an unknown sampler, options it cannot honour, a model output of the
    wrong shape or with NaN, or a grammar that leaves no token the model can produce."""


class IncompleteOutputError(ConstrainError):
    """``max_new_tokens`` ran out before the output was a complete word of the grammar.

    ``partial`` is the text generated so far and ``token_ids`` its tokens, so a caller can
    retry with a larger budget or show what was produced.
    """

    def __init__(self, message: str, *, partial: str, token_ids: tuple[int, ...]):
        self.partial = partial
        self.token_ids = token_ids
        super().__init__(message)
