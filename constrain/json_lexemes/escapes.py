"""From a language of decoded strings to the language of their JSON string literals.

Input: a trimmed DFA over the UTF-8 bytes of decoded values (every accepted byte string
valid UTF-8 of Unicode scalar values). Output: the DFA of every JSON text
``"..."`` that decodes to one of those values. A decoded character may appear raw (its
UTF-8 bytes; not ``"``, ``\\`` or U+0000..U+001F) or escaped (``\\n``, ``\\u00e9``,
``\\uD83D\\uDE00``, ...), and either way the decoded automaton must take the step of
that character's UTF-8 bytes.

Raw characters reuse the decoded automaton's own transitions. Escapes need new states,
one per pending piece of a ``\\uXXXX`` escape. Instead of enumerating the 65,536 code
points, the hex digits are walked in step with the UTF-8 bytes they determine: each hex
digit is 4 bits, each UTF-8 continuation byte 6, so after a digit either a whole byte is
known (step the decoded automaton) or 2 bits are carried into the next digit. A pending
escape state is thus a (decoded state, carried bits) pair, and every layer is computed
for all decoded states at once with numpy. States are hash-consed on their rows of
successors, so two pending escapes with the same futures are one state; since the
decoded automaton is minimal, this yields the minimal automaton of the encodings
without a separate minimization of the (large) escape part.

Lone surrogates: a high surrogate escape must be followed by a low surrogate escape,
and a low surrogate escape alone is rejected. Such texts decode to no Unicode string
(Python's json module accepts them, producing a str that cannot be encoded to UTF-8).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from constrain.errors import CompileBudgetError

START, FIRST_DECODED = 0, 1
QUOTE, BACKSLASH = 0x22, 0x5C
HEX_DIGITS = np.arange(16)

# The bytes spelling each hex digit value; letters in either case.
HEX_BYTES: tuple[bytes, ...] = tuple(
    f"{value:x}".encode() + (f"{value:X}".encode() if value > 9 else b"") for value in range(16)
)
# Two-character escapes: the byte after the backslash and the decoded byte it stands for.
SHORT_ESCAPES: tuple[tuple[int, int], ...] = tuple(
    (ord(letter), ord(decoded)) for letter, decoded in zip('"\\/bfnrt', '"\\/\b\f\n\r\t', strict=True)
)
# Bytes that may appear raw between the quotes (UTF-8 lead and continuation bytes included).
RAW_BYTES = np.array([b for b in range(0x20, 0x100) if b not in (QUOTE, BACKSLASH)])

# Which bytes each column of a gadget row stands for.
COLUMN_BYTES: dict[str, tuple[bytes, ...]] = {
    "hex": HEX_BYTES,
    "escape": (*(bytes([letter]) for letter, _ in SHORT_ESCAPES), b"u"),
    "backslash": (b"\\",),
    "u": (b"u",),
}


def json_encodings(
    transitions: np.ndarray, accepting: np.ndarray, max_states: int, on_budget: Callable[[int], str]
) -> tuple[np.ndarray, np.ndarray]:
    """The (transitions, accepting) table of the JSON literals of the decoded DFA's values.

    State 0 is before the opening quote; decoded state ``q`` becomes ``q + 1``; then the
    state after the closing quote, then the escape states. Raises CompileBudgetError with
    ``on_budget(count)`` as message once more than ``max_states`` states are needed.
    """
    n = len(transitions)
    final = n + 1
    gadgets = _EscapeGadgets(transitions, first_id=n + 2, max_states=max_states, on_budget=on_budget)
    decoded = np.arange(n)
    escape_ids = gadgets.escape(decoded)
    table = np.full((gadgets.n_states, 256), -1, dtype=np.int32)
    table[START, QUOTE] = FIRST_DECODED
    rows = FIRST_DECODED + decoded
    table[rows[:, None], RAW_BYTES[None, :]] = gadgets.global_id[gadgets.step[decoded][:, RAW_BYTES]]
    table[rows, BACKSLASH] = escape_ids
    table[rows, QUOTE] = np.where(accepting, final, -1)
    for columns, ids, successors in gadgets.blocks:
        for column, spellings in enumerate(COLUMN_BYTES[columns]):
            for byte in spellings:
                table[ids, byte] = successors[:, column]
    is_accepting = np.zeros(gadgets.n_states, dtype=np.bool_)
    is_accepting[final] = True
    return table, is_accepting


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a 2-D int array and, for each row, the index of its distinct row.

    Much faster than ``np.unique(axis=0)``: each row is hashed to one integer (a few
    array operations, whatever the width), the grouping verified exactly, and on a
    collision redone by folding the columns into exact keys (``_unique_rows_exact``).
    """
    hashes = (rows.astype(np.uint64) * _hash_weights(rows.shape[1])).sum(axis=1, dtype=np.uint64)
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    inverse = np.ravel(inverse)
    distinct = rows[first]
    if np.array_equal(rows, distinct[inverse]):
        return distinct, inverse
    return _unique_rows_exact(rows)


@lru_cache(maxsize=64)
def _hash_weights(n_columns: int) -> np.ndarray:
    weights = np.random.default_rng(n_columns).integers(1, 2**63, size=n_columns, dtype=np.uint64)
    weights.flags.writeable = False
    return weights


def _unique_rows_exact(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``unique_rows`` by exact keys: columns folded into one int64 key, renumbered densely
    whenever the next column could overflow it."""
    key = np.zeros(len(rows), dtype=np.int64)
    key_bound = 1
    for column in rows.T:
        values = column.astype(np.int64) - column.min()
        value_bound = int(values.max()) + 1
        if key_bound * value_bound >= 2**62:
            _, key = np.unique(key, return_inverse=True)
            key_bound = int(key.max()) + 1
        key = key * value_bound + values
        key_bound *= value_bound
    _, first, key = np.unique(key, return_index=True, return_inverse=True)
    return rows[first], key


class _EscapeGadgets:
    """The pending-escape states, created layer by layer and hash-consed on their rows.

    Decoded states are indices ``0..n-1`` with ``n`` standing for "dead"; every method
    takes arrays of such indices (and of carried bits) and returns global state ids,
    ``-1`` where the pending escape can no longer lead anywhere.
    """

    def __init__(
        self, transitions: np.ndarray, first_id: int, max_states: int, on_budget: Callable[[int], str]
    ):
        n = len(transitions)
        dead_row = np.full((1, 256), n, dtype=np.int64)
        self.dead = n
        self.step = np.vstack([np.where(transitions >= 0, transitions, n), dead_row])
        self.global_id = np.append(np.arange(FIRST_DECODED, n + FIRST_DECODED), -1).astype(np.int32)
        self.n_states = first_id
        self.blocks: list[tuple[str, np.ndarray, np.ndarray]] = []
        self._interned: dict[tuple[str, bytes], int] = {}
        self._max_states = max_states
        self._on_budget = on_budget

    def intern(self, columns: str, rows: np.ndarray) -> np.ndarray:
        """Ids of states with these successor rows; all-dead rows get -1."""
        rows = np.ascontiguousarray(rows, dtype=np.int32)
        ids = np.full(len(rows), -1, dtype=np.int32)
        live = (rows >= 0).any(axis=1)
        if not live.any():
            return ids
        unique, inverse = unique_rows(rows[live])
        unique_ids = np.empty(len(unique), dtype=np.int32)
        new = []
        for index, row in enumerate(unique):
            key = (columns, row.tobytes())
            state = self._interned.get(key)
            if state is None:
                state = self._interned[key] = self.n_states
                self.n_states += 1
                new.append(index)
            unique_ids[index] = state
        if self.n_states > self._max_states:
            raise CompileBudgetError(self._on_budget(self.n_states))
        if new:
            self.blocks.append((columns, unique_ids[new], unique[new]))
        ids[live] = unique_ids[inverse]
        return ids

    def layer(self, columns: str, keys: tuple[np.ndarray, ...], successors) -> np.ndarray:
        """Intern ``successors(*unique_keys)`` (rows) once per distinct key tuple."""
        stacked = np.stack([np.asarray(k, dtype=np.int64) for k in np.broadcast_arrays(*keys)], axis=1)
        unique, inverse = unique_rows(stacked)
        ids = self.intern(columns, successors(*unique.T))
        return ids[inverse]

    def hex_layer(self, keys: tuple[np.ndarray, ...], successor: Callable[..., np.ndarray]) -> np.ndarray:
        """A state awaiting one hex digit; ``successor(*keys_column, digit_row)`` gives its targets."""

        def rows(*unique_keys: np.ndarray) -> np.ndarray:
            return successor(*(k[:, None] for k in unique_keys), HEX_DIGITS[None, :])

        return self.layer("hex", keys, rows)

    def only(self, condition: np.ndarray, states: np.ndarray) -> np.ndarray:
        """``states`` where ``condition`` holds, dead elsewhere: keeps branches from making states."""
        return np.where(condition, states, self.dead)

    def via(self, method: Callable[..., np.ndarray], *args: np.ndarray) -> np.ndarray:
        """Apply a layer to broadcast 2-D arguments, keeping their shape."""
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        flat = [np.broadcast_to(a, shape).ravel() for a in args]
        return method(*flat).reshape(shape)

    # --- the layers, from the backslash down to the last hex digit ---

    def escape(self, q: np.ndarray) -> np.ndarray:
        """After ``\\``: a short escape, or ``u``."""

        def rows(q: np.ndarray) -> np.ndarray:
            short = [self.global_id[self.step[q, decoded]] for _, decoded in SHORT_ESCAPES]
            return np.stack([*short, self.u(q)], axis=1)

        return self.layer("escape", (q,), rows)

    def u(self, q: np.ndarray) -> np.ndarray:
        """After ``\\u``: the first hex digit picks the UTF-8 length (or a surrogate)."""

        def successor(q: np.ndarray, h1: np.ndarray) -> np.ndarray:
            three_byte = self.only((h1 != 0) & (h1 != 0xD), self.step[q, 0xE0 | h1])
            return np.maximum.reduce(
                [
                    self.via(self.await_h2, three_byte),
                    self.via(self.u0, self.only(h1 == 0, q)),
                    self.via(self.u_d, self.only(h1 == 0xD, q)),
                ]
            )

        return self.hex_layer((q,), successor)

    def u0(self, q: np.ndarray) -> np.ndarray:
        """After ``\\u0``: U+0000..U+0FFF, one, two or three UTF-8 bytes."""

        def successor(q: np.ndarray, h2: np.ndarray) -> np.ndarray:
            return np.maximum.reduce(
                [
                    self.via(self.u00, self.only(h2 == 0, q)),
                    self.via(self.two_byte_h3, self.only((h2 > 0) & (h2 < 8), q), h2),
                    self.via(self.await_h3, self.only(h2 >= 8, self.step[q, 0xE0]), h2),
                ]
            )

        return self.hex_layer((q,), successor)

    def u00(self, q: np.ndarray) -> np.ndarray:
        """After ``\\u00``: U+0000..U+00FF."""

        def successor(q: np.ndarray, h3: np.ndarray) -> np.ndarray:
            return np.maximum(
                self.via(self.one_byte_h4, self.only(h3 < 8, q), h3 & 7),
                self.via(self.last, self.only(h3 >= 8, self.step[q, 0xC0 | h3 >> 2]), h3 & 3),
            )

        return self.hex_layer((q,), successor)

    def one_byte_h4(self, q: np.ndarray, h3: np.ndarray) -> np.ndarray:
        """After ``\\u00`` and h3 < 8: the last digit completes an ASCII byte."""
        return self.hex_layer((q, h3), lambda q, h3, h4: self.global_id[self.step[q, h3 << 4 | h4]])

    def two_byte_h3(self, q: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """After ``\\u0`` and h2 in 1..7: h3 completes the lead byte ``110xxxxx``."""

        def successor(q: np.ndarray, h2: np.ndarray, h3: np.ndarray) -> np.ndarray:
            return self.via(self.last, self.step[q, 0xC0 | h2 << 2 | h3 >> 2], h3 & 3)

        return self.hex_layer((q, h2), successor)

    def await_h2(self, r1: np.ndarray) -> np.ndarray:
        """A three-byte character whose lead byte was taken (state ``r1``); awaiting h2."""
        return self.hex_layer((r1,), lambda r1, h2: self.via(self.await_h3, r1, h2))

    def await_h3(self, r1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """Lead byte taken, h2 known: h3 completes the middle byte ``10 h2 h3[3:2]``."""

        def successor(r1: np.ndarray, h2: np.ndarray, h3: np.ndarray) -> np.ndarray:
            return self.via(self.last, self.step[r1, 0x80 | h2 << 2 | h3 >> 2], h3 & 3)

        return self.hex_layer((r1, h2), successor)

    def last(self, r: np.ndarray, carried: np.ndarray) -> np.ndarray:
        """One continuation byte ``10 carried(2 bits) digit(4 bits)`` left to take."""

        def successor(r: np.ndarray, carried: np.ndarray, digit: np.ndarray) -> np.ndarray:
            return self.global_id[self.step[r, 0x80 | carried << 4 | digit]]

        return self.hex_layer((r, carried), successor)

    def u_d(self, q: np.ndarray) -> np.ndarray:
        """After ``\\uD``: U+D000..U+D7FF, or a high surrogate (h2 8..B); low ones are lone."""

        def successor(q: np.ndarray, h2: np.ndarray) -> np.ndarray:
            return np.maximum(
                self.via(self.await_h3, self.only(h2 < 8, self.step[q, 0xED]), h2),
                self.via(self.high_h3, self.only((h2 >= 8) & (h2 < 12), q), h2 & 3),
            )

        return self.hex_layer((q,), successor)

    def high_h3(self, q: np.ndarray, high_bits: np.ndarray) -> np.ndarray:
        """High surrogate ``D[8-B]``: h3 fixes the 4-byte lead (the plane is H >> 6, plus one)."""

        def successor(q: np.ndarray, high_bits: np.ndarray, h3: np.ndarray) -> np.ndarray:
            plane_bits = (high_bits << 2 | h3 >> 2) + 1
            carried = (plane_bits & 3) << 2 | (h3 & 3)
            return self.via(self.high_h4, self.step[q, 0xF0 | plane_bits >> 2], carried)

        return self.hex_layer((q, high_bits), successor)

    def high_h4(self, r1: np.ndarray, carried: np.ndarray) -> np.ndarray:
        """Lead byte taken: h4 completes the second byte and leaves 2 bits for the low half."""

        def successor(r1: np.ndarray, carried: np.ndarray, h4: np.ndarray) -> np.ndarray:
            return self.via(self.low_backslash, self.step[r1, 0x80 | carried << 2 | h4 >> 2], h4 & 3)

        return self.hex_layer((r1, carried), successor)

    def low_backslash(self, r2: np.ndarray, carried: np.ndarray) -> np.ndarray:
        return self.layer("backslash", (r2, carried), lambda r2, c: self.low_u(r2, c)[:, None])

    def low_u(self, r2: np.ndarray, carried: np.ndarray) -> np.ndarray:
        return self.layer("u", (r2, carried), lambda r2, c: self.low_d(r2, c)[:, None])

    def low_d(self, r2: np.ndarray, carried: np.ndarray) -> np.ndarray:
        """After the ``\\u`` of the low half: only ``D`` may follow."""

        def successor(r2: np.ndarray, carried: np.ndarray, digit: np.ndarray) -> np.ndarray:
            return self.via(self.low_h2, self.only(digit == 0xD, r2), carried)

        return self.hex_layer((r2, carried), successor)

    def low_h2(self, r2: np.ndarray, carried: np.ndarray) -> np.ndarray:
        """After ``\\uD`` of the low half: ``C..F``, whose 2 low bits join the third byte."""

        def successor(r2: np.ndarray, carried: np.ndarray, h2: np.ndarray) -> np.ndarray:
            return self.via(self.low_h3, self.only(h2 >= 12, r2), carried << 2 | (h2 & 3))

        return self.hex_layer((r2, carried), successor)

    def low_h3(self, r2: np.ndarray, carried: np.ndarray) -> np.ndarray:
        """h3 of the low half completes the third byte; h4 then completes the fourth."""

        def successor(r2: np.ndarray, carried: np.ndarray, h3: np.ndarray) -> np.ndarray:
            return self.via(self.last, self.step[r2, 0x80 | carried << 2 | h3 >> 2], h3 & 3)

        return self.hex_layer((r2, carried), successor)
