"""Whitespace layouts: the punctuation terminals of ``flexible``, ``compact`` and ``pretty``.

Each gap between JSON tokens is folded into the punctuation next to it (``[`` takes the
gap after it, ``,`` the gaps on both sides, ``]`` the gap before it), so every gap is
bounded by ``max_whitespace`` on its own and no two terminals compete for the same
whitespace. ``pretty`` reproduces ``json.dumps(value, indent=2)``: it depends on the
nesting depth, so its terminals (and the nonterminals using them) are made per depth.
"""

from __future__ import annotations

import re
from typing import Literal

from constrain.ir import Terminal

Bracket = Literal["[", "{"]
_CLOSING = {"[": "]", "{": "}"}
_NAMES = {"[": "LSQB", "{": "LBRACE", "]": "RSQB", "}": "RBRACE"}
INDENT = "  "
# Pretty layouts nest values at most this deep (indentation is per depth, so unbounded
# recursion cannot be laid out by a finite grammar); deeper instances are rejected.
PRETTY_MAX_DEPTH = 32


class Layout:
    """The punctuation terminals of one whitespace mode."""

    def __init__(self, mode: Literal["flexible", "compact", "pretty"], max_whitespace: int):
        self.mode = mode
        flexible = mode == "flexible" and max_whitespace > 0
        self._gap = f"[ \\t\\n\\r]{{0,{max_whitespace}}}" if flexible else ""
        self.outer = Terminal("WS", f"[ \\t\\n\\r]{{1,{max_whitespace}}}") if flexible else None
        self._terminals: dict[tuple[str, int], Terminal] = {}

    @property
    def pretty(self) -> bool:
        return self.mode == "pretty"

    def depth_key(self, depth: int) -> int:
        """Depth matters only to ``pretty``; the other layouts share one grammar for all depths."""
        return depth if self.pretty else 0

    def too_deep(self, depth: int) -> bool:
        return self.pretty and depth > PRETTY_MAX_DEPTH

    def open(self, bracket: Bracket, depth: int) -> Terminal:
        text = bracket + "\n" + INDENT * (depth + 1)
        return self._terminal(_NAMES[bracket], depth, text, re.escape(bracket) + self._gap)

    def close(self, bracket: Bracket, depth: int) -> Terminal:
        closing = _CLOSING[bracket]
        return self._terminal(
            _NAMES[closing], depth, "\n" + INDENT * depth + closing, self._gap + re.escape(closing)
        )

    def empty(self, bracket: Bracket, depth: int) -> Terminal:
        both = bracket + _CLOSING[bracket]
        name = "EMPTY_" + _NAMES[bracket]
        return self._terminal(
            name, depth, both, re.escape(bracket) + self._gap + re.escape(_CLOSING[bracket])
        )

    def comma(self, depth: int) -> Terminal:
        return self._terminal("COMMA", depth, ",\n" + INDENT * (depth + 1), self._gap + "," + self._gap)

    def colon(self, depth: int) -> Terminal:
        """What follows a key: ``:`` with its gaps (``": "`` when pretty)."""
        return self._terminal("COLON", depth, ": ", self._gap + ":" + self._gap)

    def _terminal(self, name: str, depth: int, pretty_text: str, pattern: str) -> Terminal:
        key = (name, self.depth_key(depth) if "\n" in pretty_text else 0)
        if key not in self._terminals:
            if self.pretty:
                suffix = f"_{depth}" if key[1] else ""
                self._terminals[key] = Terminal(name + suffix, re.escape(pretty_text))
            else:
                self._terminals[key] = Terminal(name, pattern)
        return self._terminals[key]
