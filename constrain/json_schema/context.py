"""State shared by one compilation: options, budget, named definitions, refusals.

Definitions are computed lazily and memoized by key: a document location (``"#"`` +
JSON pointer), the built-in ``ANY_KEY``, or a tuple naming a derived schema (the
intersection or complement of schemas that contain references). Laziness is what keeps
recursive schemas finite: a reference is only followed when an operation needs its
top level, and a derived schema is named before it is computed.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal

from constrain.errors import CompileBudgetError, UnsupportedSchemaError
from constrain.json_schema.nodes import ANY, ANY_KEY, NOTHING, Node

Whitespace = Literal["flexible", "compact", "pretty"]
PropertyOrder = Literal["schema", "any"]


class SchemaWarning(UserWarning):
    """A constraint was dropped (``lenient=True``) or a keyword is only an annotation here."""


class Inexpressible(Exception):
    """An operation (complement, disjointness) the compiler cannot do exactly.

    Internal: the keyword that needed it catches this and refuses (or, when lenient,
    drops the constraint) with the keyword and pointer the user wrote.
    """


@dataclass(frozen=True)
class Options:
    whitespace: Whitespace = "flexible"
    max_whitespace: int = 20
    lenient: bool = False
    additional_properties_default: bool = True
    budget_seconds: float = 2.0
    max_rules: int = 100_000
    property_order: PropertyOrder = "schema"
    any_order_max_properties: int = 6


class Budget:
    """Time and size limits; exceeding either raises CompileBudgetError naming a pointer.

    Time is the process's CPU time, so that a compilation that waits for a busy machine's
    cores is not refused; a stall without CPU use cannot happen inside the compiler.
    """

    def __init__(self, seconds: float, max_rules: int):
        self.seconds = seconds
        self.max_rules = max_rules
        self._cpu_deadline = time.process_time() + seconds
        self.where = ""  # the schema being lowered, named when a pointer-less check fails

    @property
    def deadline(self) -> float:
        """A ``time.monotonic()`` deadline for the lexeme builders: the CPU time left, from now."""
        return time.monotonic() + max(0.0, self._cpu_deadline - time.process_time())

    def check_time(self, pointer: str = "") -> None:
        pointer = pointer or self.where
        if time.process_time() > self._cpu_deadline:
            raise CompileBudgetError(
                f"compiling the schema takes longer than {self.seconds} s; too large: {pointer or '#'}"
            )

    def check_rules(self, n_rules: int, pointer: str) -> None:
        if n_rules > self.max_rules:
            raise CompileBudgetError(
                f"the grammar needs more than {self.max_rules} rules; too large: {pointer or '#'}"
            )


class Context:
    """One compilation's definitions and policies; ``lower`` computes a document location."""

    def __init__(self, options: Options, lower: Callable[[str], Node]):
        self.options = options
        self.budget = Budget(options.budget_seconds, options.max_rules)
        self._lower = lower
        self._bodies: dict[Hashable, Node] = {ANY_KEY: ANY}
        self._pending: dict[Hashable, tuple[Callable[[], Node], str]] = {}
        self._computing: set[Hashable] = set()
        self._open_cycles: set[Hashable] = set()

    def reference(self, pointer: str) -> Node:
        """A node referring to the schema at a document location."""
        return Node(refs=("#" + pointer,))

    def derived(self, key: tuple, compute: Callable[[], Node], pointer: str) -> Node:
        """A node referring to a derived schema, computed when first needed."""
        if key not in self._bodies:
            self._pending.setdefault(key, (compute, pointer))
        return Node(refs=(key,))

    def body(self, key: Hashable) -> Node:
        """The schema a reference names.

        A reference needed while it is itself being computed takes no part: the least
        fixed point, so ``A = anyOf[A, B]`` means ``B``. A body computed while an *outer*
        definition was still open depends on that guess and is not kept (nor trusted by
        ``is_settled``); it is computed again once the outer one is known.
        """
        if key in self._bodies:
            return self._bodies[key]
        if key in self._computing:
            self._open_cycles.add(key)
            return NOTHING
        self._computing.add(key)
        outer_cycles, self._open_cycles = self._open_cycles, set()
        try:
            if isinstance(key, str):
                body = self._lower(key[1:])
            else:
                compute, pointer = self._pending[key]
                self.budget.check_time(pointer)
                body = compute()
        finally:
            self._computing.discard(key)
            guessed = self._open_cycles - {key}
            self._open_cycles = outer_cycles | guessed
        if not guessed:
            self._bodies[key] = body
        return body

    def is_settled(self, key: Hashable) -> bool:
        """Whether ``key``'s body is known for good (computed, and not from a guess)."""
        return key in self._bodies

    def refuse_error(self, error: UnsupportedSchemaError, pointer: str) -> None:
        """Re-raise (located) or, when lenient, drop an UnsupportedSchemaError from a helper."""
        message = str(error).removeprefix(f"unsupported keyword {error.keyword!r}: ")
        message = message.removesuffix(f" (at {error.pointer or '#'})")
        self.refuse(error.keyword, message, error.pointer or pointer)

    def refuse(self, keyword: str, message: str, pointer: str) -> None:
        """Raise UnsupportedSchemaError, or when lenient warn that the constraint is dropped."""
        if not self.options.lenient:
            raise UnsupportedSchemaError(keyword, message, pointer=pointer)
        warnings.warn(
            f"dropping unsupported {keyword!r} at {pointer or '#'}: {message}", SchemaWarning, stacklevel=2
        )

    @staticmethod
    def warn(message: str) -> None:
        warnings.warn(message, SchemaWarning, stacklevel=2)
