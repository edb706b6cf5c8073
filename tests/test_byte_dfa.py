"""Byte DFAs of regexes against independent references.

* Membership: Python's ``re`` (``fullmatch`` / ``search``) on random and pattern-generated
  strings; for the ecma dialect, hand-written Python equivalents and, when installed,
  Node's own ``RegExp`` with the ``u`` flag.
* Viable prefixes: at character boundaries the ``regex`` package's partial matching; at
  every cut the DFA's own answer is checked from both sides (a claimed-viable prefix is
  completed along the DFA and the completed text must match per ``re``; a claimed-dead
  cut inside a character must not be completable with that character per ``regex``).
* Shape: trimmed and minimal, checked by plain graph search and a naive Moore refinement.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import time
from collections import deque

import numpy as np
import pytest
import regex
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from constrain import byte_dfa
from constrain.byte_dfa import ByteDFA, compile_regex_dfa
from constrain.charset import CodepointSet
from constrain.errors import CompileBudgetError, GrammarError

CHARS = list(
    'abksxyzKS_-."\\/uf059 \t\n\r\x00\x1f\x7f\x80\xa0\xdf\xe9\xc9\xff'
    "\u017f\u0130\u03a3\u03c3\u03c2\u01c4\u01c5"
    "\u01c6\u1e9e\u212a\u0663\u07ff\u0800\u2028\u3000\u65e5\ufeff\uffff\U00010000\U0001f600\U0010ffff\u20ac\u2026"
)
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)

PYTHON_PATTERNS = [
    r"\w+",
    r"\d+",
    r"\s*",
    r"[^\"\\]*",
    r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"',
    r"[a-zA-Z_][a-zA-Z0-9_]*",
    r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?",
    r"(?i)select",
    r"(?i:stra\u00dfe|\u01c5|k)+",
    r"(?i)[a-z\u00df-\u00ff]+x",
    r"(?i)[^k]s",
    r"(?ia)[k-s]+",
    r"[^a-z]+",
    r"[\W\d]\D\S",
    r".+",
    r"(?s).+",
    r"(?a)\w+\s\d",
    r"(?x) [a-c] + \d  # digits",
    r"(?i)a(?-i:b)c(?u:\w)",
    r"a{2,5}",
    r"(?:ab|a){3}",
    r"(a|b)*a(a|b){3}",
    r"x{0,3}y?",
    r"a+?b|(?:c|d)*?e",
    r"(?:)",
    r"a|",
    r"^abc$",
    r"\Aab\Z",
    r"a$",
    r"a$\n",
    r"(?m)^a$\n^b$",
    r"(?m)a$",
    r"(?m)(?:^x|y$)+\n?",
    r"$\n?",
    r"(?:^|x)+y",
    r"(?:a$)*\n?",
    r"[\u0080-\u07ff]+",
    r"[\u0800-\u0fff\ufff0-\uffff]",
    r"[\U0001f600-\U0001f64f\U0010fff0-\U0010ffff]+",
    r"[^\x00-\x7f]",
    r"[\u00e9\u65e5\U0001f600]+",
    r"[\ud7ff-\ue000]|a",
    r"\x00|\n",
    r"[^\n]*\n",
    r"\u2026+|\u20ac",
]


def strings_for(pattern: str) -> st.SearchStrategy[str]:
    """Random strings over CHARS and all of Unicode, strings of the pattern, and near misses."""
    random_text = st.text(st.one_of(st.sampled_from(CHARS), st.characters(codec="utf-8")), max_size=8)
    produced = st.from_regex(re.compile(pattern), fullmatch=True)
    near_miss = st.tuples(produced, st.integers(0, 8), st.sampled_from(CHARS), st.booleans()).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + t[3] :]
    )
    return st.one_of(random_text, produced, near_miss)


# --- Reference checks ------------------------------------------------------------------


def assert_trimmed(dfa: ByteDFA) -> None:
    table = dfa.transitions.tolist()
    forward = {0} if dfa.n_states else set()
    queue = deque(forward)
    while queue:
        for target in table[queue.popleft()]:
            if target >= 0 and target not in forward:
                forward.add(target)
                queue.append(target)
    assert forward == set(range(dfa.n_states)), "unreachable states"
    predecessors: dict[int, set[int]] = {}
    for source, row in enumerate(table):
        for target in row:
            predecessors.setdefault(target, set()).add(source)
    backward = set(np.flatnonzero(dfa.accepting).tolist())
    queue = deque(backward)
    while queue:
        for source in predecessors.get(queue.popleft(), ()):
            if source not in backward:
                backward.add(source)
                queue.append(source)
    assert backward == set(range(dfa.n_states)), "states that cannot reach acceptance"


def naive_state_classes(dfa: ByteDFA) -> int:
    """Number of Myhill-Nerode classes by plain Moore refinement (no cleverness)."""
    table = dfa.transitions.tolist()
    classes = dfa.accepting.astype(int).tolist()
    while True:
        signatures = [
            (classes[s], tuple(classes[t] if t >= 0 else -1 for t in table[s])) for s in range(len(table))
        ]
        numbering = {sig: i for i, sig in enumerate(dict.fromkeys(signatures))}
        refined = [numbering[sig] for sig in signatures]
        if len(numbering) == len(set(classes)):
            return len(numbering)
        classes = refined


def assert_trimmed_and_minimal(dfa: ByteDFA) -> None:
    assert dfa.transitions.dtype == np.int32 and dfa.transitions.shape == (dfa.n_states, 256)
    assert_trimmed(dfa)
    if dfa.n_states <= 400:
        assert naive_state_classes(dfa) == dfa.n_states, "not minimal"


def completion(dfa: ByteDFA, prefix: bytes) -> bytes:
    """The shortest byte string that takes the DFA from ``prefix`` to acceptance."""
    state = 0
    for byte in prefix:
        state = int(dfa.transitions[state, byte])
    paths = {state: b""}
    queue = deque([state])
    while queue:
        here = queue.popleft()
        if dfa.accepting[here]:
            return paths[here]
        for byte, target in enumerate(dfa.transitions[here].tolist()):
            if target >= 0 and target not in paths:
                paths[target] = paths[here] + bytes([byte])
                queue.append(target)
    raise AssertionError("a live state with no way to acceptance")


def check_viable_prefixes(dfa: ByteDFA, pattern: str, text: str, search: bool, partial_oracle: bool) -> None:
    data = text.encode()
    matcher = re.search if search else re.fullmatch
    for cut in range(len(data) + 1):
        prefix = data[:cut]
        viable = dfa.is_viable_prefix(prefix)
        if viable:
            completed = (prefix + completion(dfa, prefix)).decode("utf-8")  # must be valid UTF-8
            assert matcher(pattern, completed), (prefix, completed)
        try:
            boundary_text, cut_char = prefix.decode("utf-8"), None
        except UnicodeDecodeError:
            head = prefix.decode("utf-8", errors="ignore")
            boundary_text, cut_char = head, text[len(head)]
        if partial_oracle and not search:
            if cut_char is None:
                assert viable == (regex.fullmatch(pattern, boundary_text, partial=True) is not None), prefix
            elif not viable:
                assert regex.fullmatch(pattern, boundary_text + cut_char, partial=True) is None, prefix


# Patterns on which the `regex` package's partial matching is a trustworthy oracle: its case
# folding and its Unicode \w \d \s differ from re's, and it reports partial matches that
# cannot complete after lazy quantifiers.
PARTIAL_ORACLE = {p for p in PYTHON_PATTERNS if not re.search(r"\(\?i|\\[wWdDsS]|[+*?}]\?", p) or "(?a)" in p}


# --- Python dialect ----------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PYTHON_PATTERNS)
def test_compiled_dfa_is_trimmed_and_minimal(pattern):
    assert_trimmed_and_minimal(compile_regex_dfa(pattern))
    assert_trimmed_and_minimal(compile_regex_dfa(pattern, search=True))


@pytest.mark.parametrize("pattern", PYTHON_PATTERNS)
@SETTINGS
@given(data=st.data())
def test_fullmatch_agrees_with_re(pattern, data):
    dfa = compile_regex_dfa(pattern)
    text = data.draw(strings_for(pattern))
    assert dfa.matches(text.encode()) == (re.fullmatch(pattern, text) is not None)
    check_viable_prefixes(dfa, pattern, text, search=False, partial_oracle=pattern in PARTIAL_ORACLE)


@pytest.mark.parametrize("pattern", PYTHON_PATTERNS)
@SETTINGS
@given(data=st.data())
def test_search_agrees_with_re(pattern, data):
    dfa = compile_regex_dfa(pattern, search=True)
    text = data.draw(
        st.one_of(strings_for(pattern), st.tuples(strings_for(pattern), strings_for(r".*")).map("".join))
    )
    assert dfa.matches(text.encode()) == (re.search(pattern, text) is not None)
    check_viable_prefixes(dfa, pattern, text, search=True, partial_oracle=False)


@pytest.mark.parametrize("pattern", PYTHON_PATTERNS)
@SETTINGS
@given(data=st.data())
def test_strings_of_the_pattern_are_accepted(pattern, data):
    text = data.draw(st.from_regex(re.compile(pattern), fullmatch=True))
    assume(re.fullmatch(pattern, text))
    assert compile_regex_dfa(pattern).matches(text.encode())


def test_python_specific_anchor_semantics():
    dollar = compile_regex_dfa(r"a$")
    assert dollar.matches(b"a") and not dollar.matches(b"a\n")
    searched = compile_regex_dfa(r"a$", search=True)
    assert searched.matches(b"xa\n") and not searched.matches(b"a\nx")
    assert compile_regex_dfa(r"a$\n").matches(b"a\n")
    assert not compile_regex_dfa(r"a\Z\n").is_viable_prefix(b"a")
    assert compile_regex_dfa(r"(?m)a$\nb").matches(b"a\nb")
    caret = compile_regex_dfa(r"^b", search=True)
    assert caret.matches(b"bc") and not caret.matches(b"ab")
    assert compile_regex_dfa(r"(?m)^b", search=True).matches(b"a\nb")


def test_viable_prefix_inside_a_multibyte_character():
    dfa = compile_regex_dfa(r"[\u00e9\u65e5]x")
    euro_lead = "\u20ac".encode()[:1]  # U+20AC shares its lead byte 0xE2 with no member
    assert dfa.is_viable_prefix("\u65e5".encode()[:2])
    assert not dfa.is_viable_prefix(euro_lead)
    assert dfa.is_viable_prefix(b"\xc3")  # 0xC3 leads U+00E9
    assert not dfa.is_viable_prefix(b"\xc3\xa8")  # U+00E8


def test_compile_is_cached_and_arrays_are_read_only():
    dfa = compile_regex_dfa(r"[a-f]+\d")
    assert compile_regex_dfa(r"[a-f]+\d") is dfa
    with pytest.raises(ValueError):
        dfa.transitions[0, 0] = 5


# --- ecma dialect ----------------------------------------------------------------------------

# (ecma pattern, Python pattern with the same full-match language)
ECMA_CASES = [
    (r"\d+", r"[0-9]+"),
    (r"\w+", r"[A-Za-z0-9_]+"),
    (r"\s", "[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"),
    (r"[^\s\d]\S\D\W", "[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff0-9]"
     "[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff][^0-9][^A-Za-z0-9_]"),
    (r".+", r"[^\n\r\u2028\u2029]+"),
    (r"^[a-z]+$", r"[a-z]+"),
    (r"a$\n?", r"a"),
    (r"[^]x", r"(?s:.)x"),
    (r"[]|b", r"b"),
    (r"(?<year>\d{4})-\d\d", r"[0-9]{4}-[0-9][0-9]"),
    (r"\u{1F600}+", "\U0001f600+"),
    (r"\uD83D\uDE00|[\u00e9\u{65e5}]", "\U0001f600|[\u00e9\u65e5]"),
    (r"\/[\-\b]", "/[-\x08]"),
    (r"\x41\u0042\0", "AB\x00"),
    (r"(?:ab|c){1,3}", r"(?:ab|c){1,3}"),
]  # fmt: skip


@pytest.mark.parametrize(("ecma", "python"), ECMA_CASES)
@SETTINGS
@given(data=st.data())
def test_ecma_agrees_with_python_equivalent(ecma, python, data):
    dfa = compile_regex_dfa(ecma, "ecma")
    text = data.draw(strings_for(python))
    assert dfa.matches(text.encode()) == (re.fullmatch(python, text) is not None)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_ecma_agrees_with_node_regexp():
    rng = np.random.default_rng(7)
    cases = []
    for ecma, _ in ECMA_CASES:
        texts = ["", "a", "ab", "abc", "1234-56", "2024-1", "\U0001f600\U0001f600", "\n", "x\u2028", "\u00e9"]
        texts += ["AB\x00", "/-", "/\x08", "abcab", "x\u3000", "\u65e5", "\ufeff\U0001f600x", "a\n", "_9Z"]
        texts += ["".join(rng.choice(CHARS, size=rng.integers(0, 5))) for _ in range(80)]
        cases.append({"pattern": ecma, "texts": texts})
    script = """
        const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
        console.log(JSON.stringify(cases.map(c => c.texts.map(t => [
            new RegExp('^(?:' + c.pattern + ')$', 'u').test(t), new RegExp(c.pattern, 'u').test(t)]))));
    """
    answer = subprocess.run(
        ["node", "-e", script], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    for case, results in zip(cases, json.loads(answer.stdout), strict=True):
        full, search = (
            compile_regex_dfa(case["pattern"], "ecma"),
            compile_regex_dfa(case["pattern"], "ecma", search=True),
        )
        for text, (node_full, node_search) in zip(case["texts"], results, strict=True):
            assert full.matches(text.encode()) == node_full, (case["pattern"], text)
            assert search.matches(text.encode()) == node_search, (case["pattern"], text)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"\cA", "control escape"),
        (r"\p{L}", "Unicode property escape"),
        (r"(?i)a", "inline flag"),
        (r"(?i:a)", "scoped flag"),
        (r"(a)\1", "backreference"),
        (r"(?<a>x)\k<a>", "backreference"),
        (r"\a", "escape '\\a'"),
        (r"\A", "escape '\\A'"),
        (r"a{,3}", "'{,n}'"),
        (r"\uD800", "lone surrogate"),
        (r"(?=a)", "lookahead"),
        (r"a\b", "word boundary"),
    ],
)
def test_ecma_rejects_what_it_cannot_map(pattern, message):
    with pytest.raises(GrammarError, match="ecma") as info:
        compile_regex_dfa(pattern, "ecma")
    assert message in str(info.value)


# --- Set operations ------------------------------------------------------------------------

SET_PATTERNS = [r"[a-c]+", r"a*b", r"\w", r"(?:ab)*", r"[^a]*", "\u00e9|\u65e5+", r"", r"[\U0001f600b]?a"]


@functools.cache
def set_operation_results(p: str, q: str) -> dict[str, ByteDFA]:
    a, b = compile_regex_dfa(p), compile_regex_dfa(q)
    results = {
        "intersect": a.intersect(b),
        "union": a.union(b),
        "difference": a.difference(b),
        "concat": a.concat(b),
        "without_empty": a.without_empty(),
    }
    for dfa in results.values():
        assert_trimmed_and_minimal(dfa)
    return results


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(SET_PATTERNS),
    st.sampled_from(SET_PATTERNS),
    st.text(st.sampled_from(list("abc\u00e9\u65e5\U0001f600_ ")), max_size=6),
)
def test_set_operations_agree_with_membership(p, q, text):
    in_p, in_q = re.fullmatch(p, text) is not None, re.fullmatch(q, text) is not None
    expected = {
        "intersect": in_p and in_q,
        "union": in_p or in_q,
        "difference": in_p and not in_q,
        "concat": any(re.fullmatch(p, text[:i]) and re.fullmatch(q, text[i:]) for i in range(len(text) + 1)),
        "without_empty": in_p and text != "",
    }
    for name, dfa in set_operation_results(p, q).items():
        assert dfa.matches(text.encode()) == expected[name], name


@pytest.mark.parametrize("python_cells", [0, 10**9])  # every level in numpy / in Python
def test_product_levels_agree_in_numpy_and_in_python(monkeypatch, python_cells):
    monkeypatch.setattr(byte_dfa, "_PYTHON_LEVEL_CELLS", python_cells)
    for p in SET_PATTERNS:
        for q in SET_PATTERNS[::3]:
            a, b = compile_regex_dfa(p), compile_regex_dfa(q)
            expected = set_operation_results(p, q)  # built with the default mix of levels
            for name, dfa in (
                ("intersect", a.intersect(b)),
                ("union", a.union(b)),
                ("difference", a.difference(b)),
            ):
                assert_trimmed_and_minimal(dfa)
                other = expected[name]
                assert dfa.difference(other).is_empty and other.difference(dfa).is_empty, (p, q, name)


def test_minimization_survives_hash_collisions(monkeypatch):
    """With every row hashing alike, Moore's hashed rounds merge too much; the stability
    check notices and the exact rounds redo the refinement."""
    zero_weights = functools.cache(lambda n: np.zeros(n, dtype=np.uint64))
    monkeypatch.setattr(byte_dfa, "_hash_weights", zero_weights)
    for p, q in [(r"[a-c]+", r"a*b"), ("\u00e9|\u65e5+", r"(?:ab)*"), (r"\w", r"[^a]*")]:
        union = compile_regex_dfa(p).union(compile_regex_dfa(q))
        assert_trimmed_and_minimal(union)
        for text in ["", "a", "ab", "abab", "b", "\u00e9", "\u65e5\u65e5", "c", "ba"]:
            assert union.matches(text.encode()) == bool(re.fullmatch(p, text) or re.fullmatch(q, text))


def test_a_pattern_compiled_within_a_budget_is_reused_within_larger_ones():
    small = compile_regex_dfa(r"[a-f]{3}x", max_states=100)
    assert compile_regex_dfa(r"[a-f]{3}x", max_states=1000) is small
    large = compile_regex_dfa(r"(?:ab){30}", max_states=20_000)
    with pytest.raises(CompileBudgetError, match="max_states=50 NFA"):
        compile_regex_dfa(r"(?:ab){30}", max_states=50)  # a smaller budget is still enforced
    assert compile_regex_dfa(r"(?:ab){30}", max_states=30_000) is large


def test_empty_language_and_literals():
    assert compile_regex_dfa(r"[\ud800-\udfff]").is_empty  # surrogates have no UTF-8 encoding
    empty = compile_regex_dfa(r"[^\s\S]")
    assert empty.is_empty and empty.n_states == 0 and not empty.accepts_empty
    assert not empty.matches(b"") and not empty.is_viable_prefix(b"")
    word = compile_regex_dfa(r"\w+")
    assert word.intersect(compile_regex_dfa(r"\d+")).n_states < word.n_states
    assert word.intersect(empty).is_empty and word.union(empty).n_states == word.n_states
    assert word.difference(word).is_empty and word.concat(empty).is_empty
    assert compile_regex_dfa("").without_empty().is_empty
    literal = ByteDFA.literal("h\u00e9".encode())
    assert (
        literal.matches("h\u00e9".encode())
        and not literal.matches(b"h")
        and literal.is_viable_prefix(b"h\xc3")
    )
    assert ByteDFA.literal(b"").accepts_empty
    assert ByteDFA.from_codepoints(CodepointSet()).is_empty
    assert_trimmed_and_minimal(literal)


# --- Errors and budgets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "feature"),
    [
        (r"(?<!a)b", "lookbehind assertion '(?<!...)'"),
        (r"(?<=a)b", "lookbehind assertion '(?<=...)'"),
        (r"a(?=b)", "lookahead assertion '(?=...)'"),
        (r"a(?!b)", "negative lookahead assertion '(?!...)'"),
        (r"(a)\1", "backreference"),
        (r"\bfoo", "word boundary '\\b'"),
        (r"a\B", "'\\B'"),
        (r"(a)?(?(1)b|c)", "conditional group '(?(id)yes|no)'"),
        (r"a*+", "possessive quantifier"),
        (r"(?>a)", "atomic group '(?>...)'"),
    ],
)
def test_unsupported_features_are_named(pattern, feature):
    with pytest.raises(GrammarError) as info:
        compile_regex_dfa(pattern)
    assert f"{feature} is not supported in a terminal regex: {pattern!r}" in str(info.value)


@pytest.mark.parametrize(
    ("pattern", "dialect", "line", "column", "text"),
    [
        ("ab(c", "python", 1, 3, "missing )"),
        ("a[b", "python", 1, 2, "unterminated"),
        ("x{2,1}", "python", 1, 3, "min repeat"),
        ("(?x)a\n  b)", "python", 2, 4, "unbalanced parenthesis"),
        ("[^]\\u{1F600}(", "ecma", 1, 13, "missing )"),
    ],
)
def test_malformed_pattern_reports_position(pattern, dialect, line, column, text):
    with pytest.raises(GrammarError) as info:
        compile_regex_dfa(pattern, dialect)
    assert (info.value.line, info.value.column) == (line, column)
    assert text in str(info.value) and f"line {line}, column {column}" in str(info.value)


def test_deeply_nested_pattern_is_a_grammar_error():
    with pytest.raises(GrammarError, match=r"recursion|nested"):
        compile_regex_dfa("(" * 2000 + "a" + ")" * 2000)


def test_state_budget_stops_exponential_blowup_quickly():
    start = time.monotonic()
    with pytest.raises(CompileBudgetError, match=r"max_states=20000 DFA states") as info:
        compile_regex_dfa(r"(a|b)*a(a|b){40}")
    assert "'(a|b)*a(a|b){40}'" in str(info.value)
    assert time.monotonic() - start < 3


def test_huge_repetition_is_rejected_before_expansion():
    start = time.monotonic()
    with pytest.raises(CompileBudgetError, match="NFA states"):
        compile_regex_dfa(r"a{100000}")
    with pytest.raises(CompileBudgetError, match="max_states=50 NFA"):
        compile_regex_dfa(r"(?:ab){30}", max_states=50)
    assert time.monotonic() - start < 0.1


def test_byte_level_budget():
    with pytest.raises(CompileBudgetError, match="byte DFA"):
        compile_regex_dfa(r"\w{100}")


def test_deadline_budget():
    with pytest.raises(CompileBudgetError, match="deadline"):
        compile_regex_dfa(r"x+y", deadline=time.monotonic() - 1)
    start = time.monotonic()
    with pytest.raises(CompileBudgetError, match="deadline"):
        compile_regex_dfa(r"(a|b)*a(a|b){40}", max_states=10**7, deadline=time.monotonic() + 0.2)
    assert time.monotonic() - start < 1.5


def test_long_patterns_are_abbreviated_in_messages():
    pattern = "(?<!x)" + "abcdefghij" * 20
    with pytest.raises(GrammarError) as info:
        compile_regex_dfa(pattern)
    assert pattern not in str(info.value) and pattern[:50] in str(info.value) and "..." in str(info.value)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"^\d+\:\d+$", "12:30", True),
        (r"^[a-z\-\_]+$", "a-b_c", True),
        (r"\,", "x,y", True),
        (r"\#", "x", False),
    ],
)
def test_ecma_identity_escapes_of_punctuation(pattern, text, expected):
    """JSON Schema patterns escape punctuation freely (ECMA-262 Annex B identity escapes)."""
    assert compile_regex_dfa(pattern, "ecma", search=True).matches(text.encode()) is expected
