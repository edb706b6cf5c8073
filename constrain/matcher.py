"""The matcher: one generation's position in a compiled grammar.

Error contract: ``advance`` returns False and leaves the state unchanged when a token
is not allowed; a token id out of range, a rollback past the start and a bitmask of the
wrong shape or dtype raise :class:`~constrain.errors.MatcherError` (a ``ValueError``).
All other calls never raise. A matcher is a stack of interned automaton states, so
advancing, rolling back and copying are cheap; the automaton (and its caches) is
shared by every matcher of the same compiled grammar.
"""

from __future__ import annotations

import numpy as np

from constrain.errors import MatcherError
from constrain.token_automaton import DEAD, TokenAutomaton


class Matcher:
    """Allowed tokens, advance, rollback, completion and forced bytes for one output."""

    def __init__(self, automaton: TokenAutomaton):
        self._automaton = automaton
        self._stack = [automaton.initial]

    def fill_bitmask(self, bitmask: np.ndarray, index: int | None = None) -> None:
        """Overwrite ``bitmask`` (1-D), or its row ``index`` (2-D), with the allowed tokens.

        Bit ``t % 32`` of int32 word ``t // 32`` is set iff token ``t`` is allowed. End
        tokens are allowed exactly when the output is complete; after an end token only
        end tokens are allowed.
        """
        if bitmask.dtype != np.int32:
            raise MatcherError(f"bitmask must have dtype int32, not {bitmask.dtype}")
        row = bitmask if index is None else _row(bitmask, index)
        n_words = self._automaton.n_words
        if row.ndim != 1 or row.shape[0] < n_words:
            raise MatcherError(
                f"bitmask row must be 1-D with at least {n_words} int32 words, got shape {row.shape}"
            )
        words = self._automaton.mask(self._stack[-1])
        row[: len(words)] = words.view(np.int32)
        row[len(words) :] = 0

    def advance(self, token_id: int) -> bool:
        """Consume one token; False (state unchanged) if it is not allowed here."""
        after = self._automaton.advance(self._stack[-1], self._checked(token_id))
        if after == DEAD:
            return False
        self._stack.append(after)
        return True

    def is_allowed(self, token_id: int) -> bool:
        """Whether ``advance(token_id)`` would succeed; checks only this token."""
        return self._automaton.advance(self._stack[-1], self._checked(token_id)) != DEAD

    def advance_bytes(self, data: bytes) -> bool:
        """Consume raw bytes as one step (for forced text); False, unchanged, if not viable."""
        after = self._automaton.advance_bytes(self._stack[-1], data)
        if after == DEAD:
            return False
        self._stack.append(after)
        return True

    def rollback(self, n_tokens: int) -> None:
        """Undo the last ``n_tokens`` successful advances."""
        if not 0 <= n_tokens < len(self._stack):
            consumed = len(self._stack) - 1
            raise MatcherError(f"cannot roll back {n_tokens} tokens: only {consumed} were consumed")
        del self._stack[len(self._stack) - n_tokens :]

    def reset(self) -> None:
        del self._stack[1:]

    def is_accepting(self) -> bool:
        """Whether the output so far is a complete word of the language."""
        return self._automaton.states[self._stack[-1]].accepting

    def is_terminated(self) -> bool:
        """Whether an end token has been consumed."""
        return self._automaton.states[self._stack[-1]].terminated

    def forced_bytes(self) -> bytes:
        """The bytes every continuation must start with (empty if there is a choice)."""
        return self._automaton.forced_bytes(self._stack[-1])

    def copy(self) -> Matcher:
        clone = Matcher.__new__(Matcher)
        clone._automaton = self._automaton
        clone._stack = list(self._stack)
        return clone

    def _checked(self, token_id: int) -> int:
        size = self._automaton.vocab.size
        if not 0 <= token_id < size:
            raise MatcherError(f"token id {token_id} is out of range for a vocabulary of {size}")
        return int(token_id)

    @property
    def n_consumed(self) -> int:
        """How many advances can be rolled back."""
        return len(self._stack) - 1


def _row(bitmask: np.ndarray, index: int) -> np.ndarray:
    if bitmask.ndim != 2 or not -bitmask.shape[0] <= index < bitmask.shape[0]:
        raise MatcherError(f"index {index} is not a row of a bitmask of shape {bitmask.shape}")
    return bitmask[index]
