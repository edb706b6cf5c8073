"""The bundled grammars and their accept/reject tables, and the brute-force reference checker.

Three independent judges must agree: Lark's own Earley parser (full texts), the
:class:`ReferenceChecker` (full texts and prefixes), and, on small grammars, a CYK-style
fixpoint over all spans that uses the ``regex`` module instead of ``re``.
"""

from __future__ import annotations

import functools
import itertools
import re
import string

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from lark import Lark, LarkError
from lark.load_grammar import load_grammar as lark_load_grammar

from constrain.errors import GrammarError
from constrain.grammars import bundled_grammar_names, load_grammar
from constrain.ir import Grammar, NonTerminal, Rule, Terminal, regex_grammar
from constrain.testing import ReferenceChecker, split_utf8, utf8_completion_range
from tests.grammar_cases import ALL_CASES, BUNDLED_CASES, ENGINE_CASES, GrammarCase

CASE_IDS = [case.name for case in ALL_CASES]


def lark_to_ir(text: str, start: str = "start") -> Grammar:
    """An IR grammar from Lark source via Lark's own loader (independent of constrain's front end)."""
    grammar, _ = lark_load_grammar(text, "<grammar>", [], False)
    terminals, rules, ignore = grammar.compile([start], set())
    by_name = {t.name: Terminal(t.name, t.pattern.to_regexp()) for t in terminals}
    ir_rules = tuple(
        Rule(
            rule.origin.name,
            tuple(by_name[s.name] if s.is_term else NonTerminal(s.name) for s in rule.expansion),
        )
        for rule in rules
    )
    return Grammar(ir_rules, start, tuple(by_name[name] for name in ignore))


def grammar_source(case: GrammarCase) -> str:
    return load_grammar(case.name) if case.grammar is None else case.grammar


@functools.cache
def lark_parser(case: GrammarCase) -> Lark:
    return Lark(grammar_source(case), parser="earley", lexer="dynamic_complete")


@functools.cache
def checker(case: GrammarCase) -> ReferenceChecker:
    return ReferenceChecker(lark_to_ir(grammar_source(case)))


def lark_accepts(case: GrammarCase, text: str) -> bool:
    try:
        lark_parser(case).parse(text)
    except LarkError:
        return False
    except RuntimeError as error:
        # Lark raises this only after finding more than one complete parse of the text.
        if "multiple start symbol items" not in str(error):
            raise
    return True


# ---------------------------------------------------------------- the tables


def test_every_bundled_grammar_has_a_table():
    assert sorted(case.name for case in BUNDLED_CASES) == sorted(bundled_grammar_names())
    for case in BUNDLED_CASES:
        big = case.name in {"json", "sql", "smiles", "c_subset"}
        assert len(case.accept) >= (15 if big else 10) and len(case.reject) >= (15 if big else 10), case.name


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_lark_agrees_with_the_table(case: GrammarCase):
    assert [text for text in case.accept if not lark_accepts(case, text)] == []
    assert [text for text in case.reject if lark_accepts(case, text)] == []
    assert [text for text in case.dead_prefixes if lark_accepts(case, text)] == []


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_reference_agrees_with_the_table(case: GrammarCase):
    reference = checker(case)
    assert [text for text in case.accept if not reference.is_complete(text.encode())] == []
    assert [text for text in case.reject if reference.is_complete(text.encode())] == []


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_every_byte_prefix_of_an_accepted_text_is_viable(case: GrammarCase):
    reference = checker(case)
    for text in case.accept:
        data = text.encode()
        assert [
            data[:cut] for cut in range(len(data) + 1) if not reference.is_viable_prefix(data[:cut])
        ] == []


@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_dead_prefixes_are_not_viable(case: GrammarCase):
    reference = checker(case)
    assert [text for text in case.dead_prefixes if reference.is_viable_prefix(text.encode())] == []


@pytest.mark.parametrize("case", BUNDLED_CASES, ids=[case.name for case in BUNDLED_CASES])
def test_invalid_utf8_is_never_viable(case: GrammarCase):
    reference = checker(case)
    for bad in (b"\xff", b"\xc0\x80", b"\xe0\x80", b"\xed\xa0", b"\xf4\x90", b"\xf5", b"\x80", b"\xc3\x28"):
        for text in case.accept[:3]:
            data = text.encode()
            for cut in (0, len(data) // 2, len(data)):
                assert not reference.is_viable_prefix(data[:cut] + bad)
                assert not reference.is_complete(data[:cut] + bad)


# ---------------------------------------------------------------- the reserved-word terminals

SQL_KEYWORDS = (  # noqa: SIM905
    "all and as asc between by cross desc distinct false from full group having in inner insert into is join"
    " left like limit not null offset on or order outer right select true values where"
).split()
C_KEYWORDS = (  # noqa: SIM905
    "auto break case char const continue default do double else enum extern float for goto if inline int long"
    " register restrict return short signed sizeof static struct switch typedef union unsigned void volatile"
    " while _Bool _Complex _Imaginary"
).split()
IDENTIFIER_SHAPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def name_terminal(grammar: str, name: str) -> re.Pattern[str]:
    (terminal,) = [t for t in lark_to_ir(load_grammar(grammar)).terminals if t.name == name]
    return re.compile(terminal.pattern)


def near_keyword_words(keywords: list[str]) -> set[str]:
    """Every keyword, its prefixes, and each of those with one identifier character appended."""
    words = {keyword[:cut] for keyword in keywords for cut in range(1, len(keyword) + 1)}
    return words | {word + char for word in words for char in string.ascii_letters + string.digits + "_"}


@pytest.mark.parametrize(
    ("grammar", "terminal", "keywords", "fold"),
    [("sql", "NAME", SQL_KEYWORDS, True), ("c_subset", "IDENTIFIER", C_KEYWORDS, False)],
)
def test_name_terminals_are_identifiers_minus_reserved_words(grammar, terminal, keywords, fold):
    pattern = name_terminal(grammar, terminal)
    reserved = {keyword.lower() for keyword in keywords} if fold else set(keywords)
    words = near_keyword_words(keywords) | {word.upper() for word in near_keyword_words(keywords)}
    words |= {"", "1a", "a-b", "é", "_", "__x", "Ab9"}
    for word in sorted(words):
        expected = bool(IDENTIFIER_SHAPE.fullmatch(word)) and (word.lower() if fold else word) not in reserved
        assert bool(pattern.fullmatch(word)) == expected, word


def test_every_keyword_terminal_is_reserved():
    sql_words = {
        t.pattern[4:-1] for t in lark_to_ir(load_grammar("sql")).terminals if t.pattern.startswith("(?i:")
    }
    assert sql_words == set(SQL_KEYWORDS)
    c_words = {
        word
        for t in lark_to_ir(load_grammar("c_subset")).terminals
        for word in re.findall(r"[A-Za-z_]+", t.pattern)
        if re.fullmatch(r"(?:\(\?:)?[A-Za-z_|]+\)?", t.pattern)
    }
    assert c_words and c_words <= set(C_KEYWORDS)


# ---------------------------------------------------------------- load_grammar


def test_load_grammar_by_name_suffix_and_path(tmp_path):
    assert load_grammar("json") == load_grammar("json.lark")
    assert "start:" in load_grammar("json")
    own = tmp_path / "mine.lark"
    own.write_text('start: "x"\n', encoding="utf-8")
    assert load_grammar(str(own)) == 'start: "x"\n'
    assert load_grammar(own) == 'start: "x"\n'


def test_load_grammar_unknown_name_lists_the_bundled_ones():
    with pytest.raises(GrammarError) as raised:
        load_grammar("no_such_grammar")
    for name in bundled_grammar_names():
        assert name in str(raised.value)


def test_load_grammar_unreadable_file_is_a_grammar_error(tmp_path):
    binary = tmp_path / "binary.lark"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(GrammarError):
        load_grammar(str(binary))
    with pytest.raises(GrammarError):
        load_grammar(str(tmp_path))


def test_bundled_grammars_need_no_lookaround():
    for name in bundled_grammar_names():
        ReferenceChecker(lark_to_ir(load_grammar(name)))  # refuses lookarounds and backreferences


# ---------------------------------------------------------------- UTF-8 handling


def all_completions(tail: bytes, extra: int) -> list[int]:
    """Code points completing ``tail`` with ``extra`` more bytes, by plain enumeration."""
    found = []
    for rest in itertools.product(range(0x80, 0xC0), repeat=extra):
        try:
            decoded = (tail + bytes(rest)).decode("utf-8")
        except UnicodeDecodeError:
            continue
        found.append(ord(decoded))
    return found


def test_completion_range_matches_enumeration():
    tails = [bytes([lead]) for lead in range(0x80, 0x100)]
    tails += [bytes([lead, second]) for lead in range(0xE0, 0xF5) for second in range(0x70, 0xC8)]
    tails += [
        bytes([0xF0, 0x90, 0x80]),
        bytes([0xF4, 0x8F, 0xBF]),
        bytes([0xF4, 0x90, 0x80]),
        bytes([0xED, 0xA0, 0x80]),
    ]
    for tail in tails:
        lead = tail[0]
        length = (
            2 if 0xC0 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if 0xF0 <= lead <= 0xF7 else 0
        )
        found = (
            all_completions(tail, length - len(tail))
            if length > len(tail) and length - len(tail) <= 2
            else None
        )
        if found is None:
            continue
        assert utf8_completion_range(tail) == ((found[0], found[-1]) if found else None), tail
        assert found == sorted(found) and len(found) == (found[-1] - found[0] + 1 if found else 0), tail


def test_completion_range_of_one_byte_four_byte_leads():
    # Enumerating 64**3 completions is too slow for every lead; spot-check the bounds.
    assert utf8_completion_range(b"\xf0") == (0x10000, 0x3FFFF)
    assert utf8_completion_range(b"\xf4") == (0x100000, 0x10FFFF)
    assert utf8_completion_range(b"\xf5") is None


def test_split_utf8():
    assert split_utf8("aé".encode()) == ("aé", None)
    assert split_utf8("aé".encode()[:-1]) == ("a", (0xC0, 0xFF))
    assert split_utf8(b"a\xe2\x82") == ("a", (0x2080, 0x20BF))
    assert split_utf8(b"\xff") is None
    assert split_utf8(b"\xc3\xc3") is None
    assert split_utf8(b"\xc3(\xc3") is None


PARTIAL_CHARACTER_GRAMMARS = [
    (regex_grammar(r"[^\W\d_]+[0-9]*"), ["", "a", "a1"]),
    (regex_grammar("x[\u00e0-\u00ff\u4e00-\u4e10]*y"), ["", "x"]),
    (regex_grammar(r"(?i:straße|σ)+"), ["", "stra", "σ"]),
    (regex_grammar("[\U0001f600-\U0001f64f]+"), ["", "\U0001f600"]),
    (regex_grammar(r"(?s:.)\d"), ["", "a"]),
    (
        Grammar(
            (Rule("start", (Terminal("A", "a"), Terminal("B", "b"))),),
            "start",
            (Terminal("SPACE", r"\s+"),),
        ),
        ["", "a", "a\u3000"],
    ),
]
# One-byte tails of three- and four-byte leads have 4096 or more completions each, so the
# fast test takes a few of them and the slow one takes many more.
PARTIAL_TAILS = [bytes([lead]) for lead in range(0xC2, 0xE0)] + [
    b"\xe4",
    b"\xe3\x80",
    b"\xed\x9f",
    b"\xef\xbf",
    b"\xf0\x9f\x98",
    b"\xf4\x8f\xbf",
]
MORE_PARTIAL_TAILS = [bytes([lead]) for lead in (0xE0, 0xE2, 0xE3, 0xED, 0xEE, 0xEF)] + [
    b"\xf0\x9f",
    b"\xf0\x90",
    b"\xf3\xbf",
    b"\xf4\x8f",
]


def assert_cut_character_viability_matches_enumeration(grammar: Grammar, prefixes: list[str], tails) -> None:
    reference = ReferenceChecker(grammar)
    for prefix in prefixes:
        head = prefix.encode()
        for tail in tails:
            low, high = utf8_completion_range(tail)
            expected = any(reference.is_viable_prefix(head + chr(c).encode()) for c in range(low, high + 1))
            assert reference.is_viable_prefix(head + tail) == expected, (prefix, tail)


@pytest.mark.parametrize(("grammar", "prefixes"), PARTIAL_CHARACTER_GRAMMARS)
def test_cut_character_viability_matches_enumeration(grammar, prefixes):
    assert_cut_character_viability_matches_enumeration(grammar, prefixes, PARTIAL_TAILS)


@pytest.mark.slow
@pytest.mark.parametrize(("grammar", "prefixes"), PARTIAL_CHARACTER_GRAMMARS)
def test_cut_character_viability_matches_enumeration_more_tails(grammar, prefixes):
    assert_cut_character_viability_matches_enumeration(grammar, prefixes, MORE_PARTIAL_TAILS)


def test_cut_character_can_be_viable_and_not_viable():
    reference = ReferenceChecker(regex_grammar("a[\u4e00-\u4e10]"))
    assert reference.is_viable_prefix(b"a\xe4")
    assert reference.is_viable_prefix(b"a\xe4\xb8")
    assert not reference.is_viable_prefix(b"a\xe4\xb9")
    assert not reference.is_viable_prefix(b"a\xe5")
    assert not reference.is_viable_prefix(b"a\xc3")
    assert not reference.is_complete(b"a\xe4\xb8")


# ---------------------------------------------------------------- terminals versus re / regex

REGEX_POOL = [
    "a",
    "",
    "ab|c",
    "a*b",
    "(?:ab)+c?",
    "a{2,3}",
    "a{2,}b",
    "[a-c]{0,2}d",
    "(a|)(b|c)*",
    "a*?b+?",
    r"\d+(?:\.\d*)?",
    r"[^\Wb]+",
    "(?i:Ab)c",
    "(?i)[a-b]+",
    "(?s:.)a",
    ".+",
    r"\s*x\S",
    "(?:a|b)*abb",
    "((a)|(?P<n>b))c",
    "x(?#comment)y",
    "(?x: a b )",
]
REGEX_ALPHABET = "abcdAB1.\n x"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(REGEX_POOL), st.text(REGEX_ALPHABET, max_size=7))
def test_terminal_matching_agrees_with_re_and_regex_partial(pattern, text):
    reference = ReferenceChecker(regex_grammar(pattern))
    assert reference.is_complete(text.encode()) == bool(re.fullmatch(pattern, text))
    # regex's partial matching is wrong after lazy quantifiers ('a1' "could become" a*?b+?);
    # the greedy form has the same language and a trustworthy partial match
    greedy = re.sub(r"([*+?}])\?", r"\1", pattern)
    assert reference.is_viable_prefix(text.encode()) == bool(regex.fullmatch(greedy, text, partial=True))


def test_empty_character_class_makes_no_prefix_viable():
    # regex's partial matching says "" might still match here; it cannot.
    assert regex.fullmatch(r"[^\s\S]", "", partial=True)
    assert not ReferenceChecker(regex_grammar(r"[^\s\S]")).is_viable_prefix(b"")
    assert not ReferenceChecker(regex_grammar(r"a[^\s\S]")).is_viable_prefix(b"a")
    assert ReferenceChecker(regex_grammar(r"a(?:[^\s\S]|b)")).is_viable_prefix(b"a")


@pytest.mark.parametrize(
    "pattern",
    ["(?=a)a", "(?!a)b", "(?<=a)b", r"(a)\1", "^a", "a$", r"\ba", r"\Aa", "(?>a)", "a*+", "(a)?(?(1)b|c)"],
)
def test_unsupported_regex_constructs_are_refused(pattern):
    with pytest.raises(GrammarError):
        ReferenceChecker(regex_grammar(pattern))


def test_invalid_regex_and_ecma_dialect_are_refused():
    with pytest.raises(GrammarError):
        ReferenceChecker(regex_grammar("a("))
    with pytest.raises(GrammarError):
        ReferenceChecker(regex_grammar("a", dialect="ecma"))


def test_unproductive_rules_never_make_a_prefix_viable():
    x, b = NonTerminal("X"), Terminal("B", "b")
    grammar = Grammar(
        (Rule("start", (Terminal("A", "a"),)), Rule("start", (b, x)), Rule("X", (x, b))), "start"
    )
    reference = ReferenceChecker(grammar)
    assert reference.is_viable_prefix(b"a") and not reference.is_viable_prefix(b"b")
    assert not ReferenceChecker(Grammar((), "start")).is_viable_prefix(b"")
    assert not ReferenceChecker(
        Grammar((Rule("start", (NonTerminal("missing"),)),), "start")
    ).is_viable_prefix(b"")


# ---------------------------------------------------------------- brute force on small grammars


def _ignore_gaps(grammar: Grammar, text: str) -> list[set[int]]:
    """gaps[i]: every j such that text[i:j] is a chain of zero or more ignored lexemes."""
    n = len(text)
    gaps = [{i} for i in range(n + 1)]
    for i in range(n, -1, -1):
        for j in range(i + 1, n + 1):
            if any(regex.fullmatch(t.pattern, text[i:j]) for t in grammar.ignore):
                gaps[i] |= gaps[j]
    return gaps


def brute_force(grammar: Grammar, text: str) -> tuple[bool, bool]:
    """(is complete, is viable prefix) by fixpoints over all spans, with ``regex`` matching.

    A symbol's spans are the (i, j) it derives, each of its lexemes preceded by ignored
    lexemes; its "covers" are the i from which it derives some string of which text[i:]
    (again after ignored lexemes) is a prefix. Assumes every terminal matches something.
    """
    n = len(text)
    gaps = _ignore_gaps(grammar, text)
    open_gap = [
        any(
            m == n or any(regex.fullmatch(t.pattern, text[m:], partial=True) for t in grammar.ignore)
            for m in gaps[i]
        )
        for i in range(n + 1)
    ]
    spans: dict[object, set[tuple[int, int]]] = {}
    covers: dict[object, set[int]] = {}
    for terminal in grammar.terminals:
        spans[terminal] = {
            (i, j)
            for i in range(n + 1)
            for m in gaps[i]
            for j in range(m, n + 1)
            if regex.fullmatch(terminal.pattern, text[m:j])
        }
        covers[terminal] = {
            i
            for i in range(n + 1)
            if open_gap[i] or any(regex.fullmatch(terminal.pattern, text[m:], partial=True) for m in gaps[i])
        }
    productive: set[str] = set()
    for name in grammar.nonterminals:
        spans[name], covers[name] = set(), set()
    while True:
        changed = False
        for rule in grammar.rules:
            keys = [s if isinstance(s, Terminal) else s.name for s in rule.rhs]
            if rule.lhs not in productive and all(isinstance(k, Terminal) or k in productive for k in keys):
                productive.add(rule.lhs)
                changed = True
            reached = {(i, i) for i in range(n + 1)}
            for key in keys:
                reached = {(i, k) for i, j in reached for j2, k in spans.get(key, ()) if j2 == j}
            covered = {n}
            for index in range(len(keys) - 1, -1, -1):
                key = keys[index]
                rest_productive = all(isinstance(k, Terminal) or k in productive for k in keys[index + 1 :])
                covered = {i for i, j in spans.get(key, ()) if j in covered} | (
                    set(covers.get(key, ())) if rest_productive else set()
                )
            if not reached <= spans[rule.lhs] or not covered <= covers[rule.lhs]:
                spans[rule.lhs] |= reached
                covers[rule.lhs] |= covered
                changed = True
        if not changed:
            break
    start_spans = spans.get(grammar.start, set())
    complete = any(i == 0 and n in gaps[j] for i, j in start_spans)
    viable = 0 in covers.get(grammar.start, set()) or any(i == 0 and open_gap[j] for i, j in start_spans)
    return complete, viable and grammar.start in productive


TERMINAL_POOL = ["a", "b", "ab", "a*", "b+", "[ab]", "(?:ab)*", "a|bb", "ba?"]
IGNORE_POOL = [None, " ", " +", "#a*"]


@st.composite
def small_grammars(draw) -> Grammar:
    terminals = [Terminal(f"T{index}", pattern) for index, pattern in enumerate(TERMINAL_POOL)]
    nonterminals = [NonTerminal(name) for name in ("start", "A", "B")]
    symbol = st.sampled_from(terminals + nonterminals)
    rules = [
        Rule(lhs.name, tuple(rhs))
        for lhs in nonterminals
        for rhs in draw(st.lists(st.lists(symbol, max_size=3), max_size=3))
    ]
    ignore = draw(st.sampled_from(IGNORE_POOL))
    return Grammar(tuple(rules), "start", (Terminal("IGNORED", ignore),) if ignore else ())


@settings(max_examples=300, deadline=None)
@given(small_grammars(), st.lists(st.text("ab #", max_size=6), min_size=1, max_size=4))
def test_reference_agrees_with_brute_force_on_random_grammars(grammar, texts):
    reference = ReferenceChecker(grammar)
    for text in texts:
        for cut in range(len(text) + 1):
            prefix = text[:cut]
            expected = brute_force(grammar, prefix)
            assert (
                reference.is_complete(prefix.encode()),
                reference.is_viable_prefix(prefix.encode()),
            ) == expected


ENUMERATED = [
    ("balanced_brackets", "()[", 6),
    ("left_recursive", "12+*", 5),
    ("ambiguous", "xy", 7),
    ("overlapping_terminals", "ab", 7),
    ("empty_rule", "ab", 6),
    ("empty_word", "abc", 6),
    ("ignored_comments", "(a,#\n)", 4),
]


@pytest.mark.parametrize(("name", "alphabet", "max_length"), ENUMERATED)
def test_reference_agrees_with_enumerated_language(name, alphabet, max_length):
    (case,) = [case for case in ENGINE_CASES if case.name == name]
    grammar = lark_to_ir(case.grammar)
    reference = ReferenceChecker(grammar)
    texts = [
        "".join(chars)
        for length in range(max_length + 1)
        for chars in itertools.product(alphabet, repeat=length)
    ]
    judged = {text: brute_force(grammar, text) for text in texts}
    language = {text for text, (complete, _viable) in judged.items() if complete}
    assert language, name
    assert {text for text in texts if reference.is_complete(text.encode())} == language
    for text in texts:
        viable = reference.is_viable_prefix(text.encode())
        assert viable == judged[text][1], text
        assert viable or not any(word.startswith(text) for word in language), text
