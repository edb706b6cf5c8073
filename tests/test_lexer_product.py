"""The lexer's product automaton and the string slices, checked against plain Python.

The product is built in Numba (``native/lexer_product``) and stands for every terminal DFA
run in lockstep; the slice check (``native/simulation``) decides when a precomputed mask may
replace part of a trie walk. Each is compared with a direct computation on small inputs.
"""

from __future__ import annotations

import numpy as np
from constrain.native import reads_all
from constrain.native.lexer_product import FRESH, IntListSet
from hypothesis import given, settings
from hypothesis import strategies as st

from constrain import Vocabulary, compile_grammar
from constrain.byte_dfa import compile_regex_dfa
from constrain.lexer import Lexer
from constrain.token_automaton import SharedWalks

PATTERNS = ["ab*", "a|abc", "[a-c]+", "(ab)*c?", "b{2,3}", "[^a]", "\\d+", "é+", "x"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 50), max_size=6), max_size=200))
def test_int_list_set_behaves_like_a_dict(lists):
    interned, expected = IntListSet(capacity=2), {}
    for items in lists:
        expected.setdefault(tuple(items), len(expected))
        assert interned.intern(items) == expected[tuple(items)]
    assert len(interned) == len(expected)
    for items, index in expected.items():
        assert interned.find(list(items)) == index
        assert interned[index].tolist() == list(items)
    assert interned.find([FRESH, 99]) == -1


@settings(max_examples=60, deadline=None)
@given(
    st.sets(st.integers(0, len(PATTERNS) - 1), min_size=1),
    st.lists(st.sampled_from([b"a", b"b", b"c", b"1", "é".encode(), b"x", b"\xc3"]), max_size=8),
)
def test_product_states_step_every_terminal_in_lockstep(expected, pieces):
    dfas = tuple(compile_regex_dfa(pattern) for pattern in PATTERNS)
    lexer = Lexer(dfas, frozenset())
    text = b"".join(pieces)
    state = lexer.start_state(frozenset(expected))
    assert lexer.is_fresh(state)
    for length in range(1, len(text) + 1):
        state = lexer.step(state, text[length - 1])
        alive = [t for t in sorted(expected) if _run(dfas[t], text[:length]) >= 0]
        if not alive:
            assert state == -1
            return
        assert not lexer.is_fresh(state)
        accepted = tuple(t for t in alive if dfas[t].accepting[_run(dfas[t], text[:length])])
        assert lexer.class_terminals(lexer.terminal_class(state)) == accepted
        assert bool(lexer.accepting[state]) == bool(accepted)


def _run(dfa, data: bytes) -> int:
    state = 0
    for byte in data:
        state = int(dfa.transitions[state, byte])
        if state < 0:
            return -1
    return state


def _strings(dfa, length: int) -> set[bytes]:
    """Every string of at most ``length`` bytes from {a, b, c} the automaton reads without dying."""
    found, frontier = {b""}, [(b"", 0)]
    for _ in range(length):
        frontier = [
            (text + bytes([byte]), int(dfa.transitions[state, byte]))
            for text, state in frontier
            for byte in b"abc"
            if dfa.transitions[state, byte] >= 0
        ]
        found.update(text for text, _ in frontier)
    return found


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["a*", "(ab)*", "[ab]{0,3}", "a?b?c?"]), st.sampled_from([*PATTERNS, "[a-c]*", "(a|b)*c"])
)
def test_reads_all_agrees_with_enumeration(slice_pattern, lexer_pattern):
    slice_dfa, lexer_dfa = compile_regex_dfa(slice_pattern), compile_regex_dfa(lexer_pattern)
    slice_strings = _strings(slice_dfa, 6)
    lexer_strings = _strings(lexer_dfa, 6)
    verdict = reads_all(slice_dfa.transitions, lexer_dfa.transitions, 0)
    assert verdict == slice_strings.issubset(lexer_strings)


def test_slice_masks_equal_full_walks():
    """The JSON grammar's string states are served by the slice; the masks must not change."""
    words = [b"a", b"ab", b'a"', b'"', b'",', b"\\", b"\\n", "é".encode(), b"\xc3", b"\xa9b", b" ", b"1"]
    words += [b"x" * 20, b"abcdefghijklmnopqrstu", b"{", b"}", b":", b'":']
    vocab = Vocabulary.from_token_bytes([b"<eos>", *words], eos_token_ids=[0])
    grammar = "start: ESCAPED_STRING\n%import common.ESCAPED_STRING"
    sliced = compile_grammar(grammar, vocab).automaton
    plain = compile_grammar(grammar, vocab).automaton
    plain._slices, plain._shared_walks = (), SharedWalks()  # nothing shared with the sliced one
    served = 0
    for prefix in [b'"', b'"ab', b'"\xc3', b'"\\', b'"' + b"y" * 15]:
        masks = []
        for automaton in (sliced, plain):
            state = automaton.advance_bytes(automaton.initial, prefix)
            masks.append(automaton.mask(state).copy())
        np.testing.assert_array_equal(masks[0], masks[1])
        lexer_state = next(iter(sliced.states[sliced.advance_bytes(sliced.initial, prefix)].threads))[1]
        served += reads_all(sliced._slices[0].transitions, sliced.lexer.transitions, lexer_state)
    assert served >= 2  # the slice path really ran
