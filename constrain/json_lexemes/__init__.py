"""Exact byte automata for the leaf lexemes of JSON Schemas: strings, numbers, formats."""

from constrain.json_lexemes.formats import format_dfa
from constrain.json_lexemes.numbers import json_integer_dfa, json_number_dfa
from constrain.json_lexemes.strings import (
    json_string_dfa,
    json_string_encodings,
    json_string_literal_dfa,
    json_string_value_dfa,
)

__all__ = [
    "format_dfa",
    "json_integer_dfa",
    "json_number_dfa",
    "json_string_dfa",
    "json_string_encodings",
    "json_string_literal_dfa",
    "json_string_value_dfa",
]
