"""Accept/reject tables for the bundled grammars (``BUNDLED_CASES``) and for small grammars
that stress engines (``ENGINE_CASES``: balanced brackets, left recursion, ambiguity, ignored
comments, overlapping terminals, empty rules, Unicode classes and case folding).

Data only. Every ``accept`` text is in the grammar's language and every ``reject`` text is
not, under the semantics of :mod:`constrain.ir` (checked against Lark's own Earley parser
and :class:`constrain.testing.ReferenceChecker` by ``tests/test_grammars.py``). Every
``dead_prefix`` text can be extended into no word of the language at all. Grammars are
Lark source; ``grammar=None`` means the bundled grammar called ``name``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GrammarCase:
    name: str
    grammar: str | None
    accept: tuple[str, ...]
    reject: tuple[str, ...]
    dead_prefixes: tuple[str, ...] = ()


JSON = GrammarCase(
    "json",
    None,
    accept=(
        "{}",
        "[]",
        "0",
        "-0",
        '""',
        "true",
        "null",
        ' \t\n\r{ "a" : 1 } \n',
        '{"a": [1, 2.5e-3, -0.0, 1E+2, {"b": null}], "c": "\\u00e9\\n\\"\\\\\\/"}',
        '"héllo 日本 😀"',
        '"\\ud83d\\ude00 \\uD800"',
        "[[[[[[]]]]]]",
        '"\x7f"',
        '{"": ""}',
        "123456789012345678901234567890",
        "[true,false,null]",
        "-1.25e10",
        "1e5",
        '"\\b\\f\\n\\r\\t"',
        '{"a":{"a":{"a":[{}]}}}',
    ),
    reject=(
        "",
        " ",
        "{",
        "[1,]",
        '{"a":1,}',
        "01",
        "-01",
        "+1",
        ".5",
        "1.",
        "1.e5",
        "1e",
        "-",
        '"\\x"',
        '"\\u12"',
        '"\\u00G0"',
        '"a\tb"',
        '"line\nbreak"',
        "'single'",
        "{a:1}",
        "[1 2]",
        "True",
        "nul",
        '"unterminated',
        '{"a" 1}',
        "NaN",
        "0x10",
        "1 2",
        "[1,,2]",
        "\u00a01",
        "// comment\n1",
    ),
    dead_prefixes=('{"a" 1', "[1,]", "01", "tru e", '"\\q', "{,", "-.", "\u00a0"),
)

ARITHMETIC = GrammarCase(
    "arithmetic",
    None,
    accept=(
        "1",
        "x",
        "1 + 2 * 3",
        "-(a - b) / c % 2",
        "2^3^2",
        "-2^-2",
        "f()",
        "max(a, b, 3)",
        "sin(x)^2 + cos(x)^2",
        ".5 + 5. + 1e10 + 2.5E-3",
        "((((x))))",
        "a*-b",
        "+ + 1",
        "_tmp1 * x_2",
        "  1\t+\n2  ",
        "f(g(h(1)), 2)",
        "f (1)",
    ),
    reject=(
        "",
        "1 +",
        "(1",
        "1)",
        "* 2",
        "1 2",
        "f(,)",
        "f(1,)",
        "2^",
        "1e",
        "1..2",
        "()",
        "a b",
        "3x",
        "1 ** 2",
        "^2",
        "f(1)(2)",
    ),
    dead_prefixes=("1 2", ")", "f(,", "1..", "*"),
)

SQL = GrammarCase(
    "sql",
    None,
    accept=(
        "SELECT * FROM users",
        "select id, name from users where age >= 18 and not deleted",
        "SELECT DISTINCT u.name AS n, COUNT(*) cnt FROM users u LEFT OUTER JOIN orders AS o"
        " ON o.user_id = u.id GROUP BY u.name HAVING COUNT(*) > 1 ORDER BY cnt DESC, n ASC"
        " LIMIT 10 OFFSET 20;",
        "SELECT a FROM t WHERE b IN (1, 2, 3) OR c NOT IN (SELECT c FROM s)",
        "SELECT a FROM t WHERE name LIKE 'J%' AND x BETWEEN 1 AND 10 AND y IS NOT NULL",
        "SELECT 'it''s', -1.5e3, .5, NULL, TRUE, false",
        "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')",
        "insert into s.t values (1)",
        "INSERT INTO t SELECT * FROM s",
        'SELECT "order", `group` FROM "select"',
        "SeLeCt a FrOm t",
        "SELECT a -- comment\nFROM t /* block\n * comment */ WHERE a = 1",
        "SELECT COUNT(DISTINCT a), MAX(b) FROM t CROSS JOIN s",
        "SELECT a || 'x' FROM t WHERE NOT (a = 1 OR b <> 2)",
        "SELECT t.* FROM (SELECT 1 AS x) t",
        "SELECT 1",
        "SELECT a FROM t1, t2 WHERE t1.id = t2.id",
        "SELECT f(a) FROM t INNER JOIN u ON t.x = u.x RIGHT JOIN v ON v.y != t.y FULL JOIN w ON 1 = 1",
        "SELECT name FROM users WHERE name = 'José 日本'",
        "SELECT selected, fromage, order_id FROM t",
        # Python's re folds U+017F (long s) to 's' under IGNORECASE, so it spells "select" too.
        "\u017felect 1",
        "SELECT a FROM t WHERE a*2-1<=b/3%4",
        "SELECT a -- comment until the end",
        "SELECT a/* c */x, b --c\ny FROM users u",
        'SELECT a\t"x y" FROM t AS "t 2"',
        "SELECT a FROM t; -- comment\n",
    ),
    reject=(
        "",
        "SELECT",
        "SELECT * FROM t WHERE",
        "SELECT a, FROM t",
        "SELECT * FROM",
        "SELECT a FROM t ORDER a",
        "INSERT INTO t VALUES",
        "INSERT INTO t VALUES ()",
        "SELECT 'abc",
        "SELECT a FROM t LIMIT x",
        "SELECT * FROM t WHERE a = = 1",
        "SELECT a FROM t t2 t3",
        "SELECT (a FROM t",
        "SELECT a FROM t;;",
        "SELECT a b c FROM t",
        "SELECT * FROM t JOIN u",
        "SELECT COUNT(*, a) FROM t",
        'SELECT "" FROM t',
        "UPDATE t SET a = 1",
        "SELECT a FROM t WHERE a BETWEEN 1",
        "SELECT a FROM t WHERE a IS 1",
        "SELECT a FROM t ORDER BY a ASC DESC",
        "SELECT a FROM t /* unterminated",
        "SELECT a FROM t WHERE a NOT = 1",
        "SELECT a FROM -- the rest of the line is comment t",
        "SELECT a FROM t -- comment\n WHERE",
        "SELECT from FROM t",
        "SELECT a AS FROM t",
    ),
    dead_prefixes=("SELECT * FROM t WHERE )", "SELECT ,", "INSERT t", "SELECT a FROM t LIMIT x"),
)

SMILES = GrammarCase(
    "smiles",
    None,
    accept=(
        "C",
        "CC(=O)O",
        "c1ccccc1",
        "C1CCCCC1",
        "[NH4+]",
        "[13CH4]",
        "N[C@@H](C)C(=O)O",
        "[Cu+2].[O-2]",
        "C%12CC%12",
        "F/C=C/F",
        "F/C=C\\F",
        "[2H]C([2H])([2H])[2H]",
        "Cl[Si](Cl)(Cl)Cl",
        "[Fe++]",
        "[O--]",
        "[C@TH1](F)(Cl)(Br)I",
        "[Co@OH30]",
        "[Co@TB20]",
        "[*:1]CC[*:2]",
        "*C",
        "[se]1cccc1",
        "[nH]1cccc1",
        "CC(C)(C)C",
        "C=1CC1",
        "O=C=O",
        "C#N",
        "C$C",
        "c1cc2ccccc2cc1",
        "C(C(C(C)))",
        "C(.C)",
        "[Og]",
        "[CH3:12]",
        "[OH-1]",
        "C%123",
        "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
        "[12C@@H]1(O)CC1",
    ),
    reject=(
        "",
        "(C)",
        "C(",
        "C)",
        "1C",
        "[C",
        "[]",
        "[Xx]",
        "[C@TH3]",
        "[C@TB21]",
        "[C@OH31]",
        "CC((C))",
        "C=",
        "C..C",
        "C(C)1",
        "[C+++]",
        "[CH10]",
        "Cx",
        "[H+-]",
        "C%1",
        "c1ccccc1 ",
        "[c:]",
        "cl",
        "Xe",
        "[13]",
        "C-=C",
        ".C",
    ),
    dead_prefixes=("(", "C((", "[C@TH3", "Cx", "C..", "[Xx"),
)

C_SUBSET = GrammarCase(
    "c_subset",
    None,
    accept=(
        "int x;",
        "int main(void) { return 0; }",
        "unsigned long long n = 0xFFULL;",
        'static const char *names[] = {"a", "b\\n", 0};',
        "double f(double x, int n) { double r = 1.0; while (n-- > 0) r *= x; return r; }",
        "void g(int *p, char c) { if (p) *p = c == 'a' ? '\\n' : '\\x41'; else return; }",
        "int h(int a, int b) { if (a) if (b) return 1; else return 2; return 3; }",
        "int k(void) { for (int i = 0; i < 10; i++) { if (i % 2) continue; break; }"
        " do { i--; } while (i); return sizeof(int) + sizeof i; }",
        "/* header */ int x = 1; // trailing\n",
        "int x; // a final comment needs no newline",
        "int y; /* block */ // line\n// another line\nint z;",
        "int a[3][4], *b, c = (int)3.5e2f;",
        "long double ld = .5L; _Bool flag = 1; signed char sc = -1;",
        "int f(int, char *);",
        "int m(int x) { return x << 2 >> 1 & 3 | 4 ^ 5 && !x || ~x; }",
        "int n(int x) { x += 1, x -= 2; x = x ? x : -x; return (x); }",
        'char *s = "con" "cat" L"wide";',
        "int p(int *q) { return q[0]++ + --q[1] - *q++; }",
        "float g = 1.f;",
        "int main() { int x = 010 + 0 + 9u + 10lu; }",
        'char *u = "héllo 😀";',
        "void v(void) { ; {} }",
        "int w(int x) { if (x) { x = 1; } else if (!x) x = 2; else { x = 3; } }",
        "const int * const volatile p = &x;",
        "int q(int a[], char *argv[]) { return a[argv[0][1]]; }",
    ),
    reject=(
        "",
        "int x",
        "int 1x;",
        "int int;",
        "return 0;",
        "int main() { return 0 }",
        "int f() { if x return; }",
        "int x = ;",
        "int main() { else return 0; }",
        "int x = 08;",
        "int x = 'ab;",
        'char *s = "abc;',
        "int f() { break }",
        "int a[;",
        "int f(int x,) {}",
        "int x = {};",
        "void f() { int; }",
        "int f() { x = 1; /* unterminated }",
        "int x = 1 +;",
        "long long long x;",
        "unsigned double d;",
        "int if = 1;",
        "int main() { for (;;) }",
        "int f() { if (a) x; else; else y; }",
        "int x = 1 // the rest of the line is comment ;",
        "int f() { return 0; // }\n",
    ),
    dead_prefixes=("int x = ;", "int main() { return 0 }", "int 1", "return", "int f() { else "),
)

CSV = GrammarCase(
    "csv",
    None,
    accept=(
        "a,b,c",
        "a,b\r\n1,2\r\n",
        '"quoted, with comma","with ""quotes""","multi\nline"',
        ",",
        ",,",
        "a,,c",
        '"",""',
        '""',
        "name\nJosé,日本",
        " spaced , fields ",
        "a\nb\n",
        "x",
        "1,2\n3,4\n5,6",
        "a\r\nb",
        '"\r\n"',
    ),
    reject=(
        "",
        "\n",
        "a\n\nb",
        '"a',
        '"a"b',
        'a"b',
        "a\rb",
        '"a""',
        "a\n\n",
        'a,"b"c',
        "\r\n",
        "a\r",
    ),
    dead_prefixes=('"a"b', 'a"', "\n", "a\n\n"),
)

EMAIL_ADDRESS = GrammarCase(
    "email_address",
    None,
    accept=(
        "user@example.com",
        "first.last@sub.example.co.uk",
        "x@y",
        '"john doe"@example.com',
        '"a\\"b"@x.org',
        "user+tag@example.com",
        "!#$%&'*+/=?^_`{|}~-@example.com",
        "a@[192.168.0.1]",
        "a@[255.255.255.255]",
        "a@[0.0.0.0]",
        "1@1",
        "a-b@a-b.c-d",
        '"@"@example.com',
        '""@example.com',
        "UPPER@EXAMPLE.COM",
        "a@xn--bcher-kva.example",
    ),
    reject=(
        "",
        "user",
        "@example.com",
        "user@",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a@-example.com",
        "a@example-.com",
        "a@example..com",
        "a@[256.0.0.1]",
        "a@[1.2.3]",
        "a b@example.com",
        '"a"b"@x',
        "a@b@c",
        "josé@example.com",
        "a@exa_mple.com",
        "a@example.com.",
        '"a\x01"@x',
    ),
    dead_prefixes=("a..", "@", "a@-", "a@[256", "a@b@"),
)

BUNDLED_CASES = (JSON, ARITHMETIC, SQL, SMILES, C_SUBSET, CSV, EMAIL_ADDRESS)

# ---------------------------------------------------------------- small grammars for engines

BALANCED_BRACKETS = GrammarCase(
    "balanced_brackets",
    """
start: item*
item: "(" start ")"
    | "[" start "]"
""",
    accept=("", "()", "[]", "([])", "()[]", "[([]())]", "(((())))"),
    reject=("(", ")", "(]", "([)]", "[[", "())", "x"),
    dead_prefixes=(")", "(]", "([)"),
)

LEFT_RECURSIVE = GrammarCase(
    "left_recursive",
    """
start: start "+" term
     | term
term: term "*" NUMBER
    | NUMBER
NUMBER: /[0-9]+/
""",
    accept=("1", "1+2", "1*2+3*4*5", "10+20+30", "007"),
    reject=("", "+1", "1+", "1**2", "1 + 2", "1+*2"),
    dead_prefixes=("+", "1**", "1 "),
)

AMBIGUOUS = GrammarCase(
    "ambiguous",
    """
start: a+
a: "x" | "xx"
""",
    accept=("x", "xx", "xxx", "xxxxxxx"),
    reject=("", "y", "xy", "xxy"),
    dead_prefixes=("y", "xy"),
)

IGNORED_COMMENTS = GrammarCase(
    "ignored_comments",
    r"""
start: "(" [NAME ("," NAME)*] ")"
NAME: /[a-z]+/
%ignore /[ \t\n]+/
%ignore /#[^\n]*\n/
""",
    accept=(
        "()",
        "( a , b )",
        "(a # comment\n, b)",
        "# lead\n(a)# trail\n",
        "(\n\ta\n)",
        " ( ) ",
        "#\n#\n()",
    ),
    reject=("(a b)", "(a,)", "(a # c , b)", "# only\n", "(a) x", "", "(A)", "() # no newline"),
    dead_prefixes=("(a b", "(a,)", "x", "(a) x"),
)

OVERLAPPING_TERMINALS = GrammarCase(
    "overlapping_terminals",
    """
start: A B
A: /a+/
B: /a+/
""",
    accept=("aa", "aaa", "aaaaaa"),
    reject=("", "a", "ab", "b"),
    dead_prefixes=("b", "ab"),
)

EMPTY_RULE = GrammarCase(
    "empty_rule",
    """
start: x "b" x
x: "a"
 |
""",
    accept=("b", "ab", "ba", "aba"),
    reject=("", "a", "aa", "abb", "aab", "abaa"),
    dead_prefixes=("aa", "abb", "abaa"),
)

EMPTY_WORD = GrammarCase(
    "empty_word",
    """
start: ("a" | "bc")*
""",
    accept=("", "a", "bc", "abca", "bcbc"),
    reject=("b", "c", "cb", "abcb"),
    dead_prefixes=("c", "bb", "ac"),
)

UNICODE_WORDS = GrammarCase(
    "unicode_words",
    r"""
start: WORD ("-" WORD)*
WORD: /[^\W\d_]+[0-9]*/
""",
    accept=("héllo", "日本語", "straße-Ω12", "ǅ", "abc123", "Ελληνικά-кириллица-עברית"),
    reject=("", "1abc", "a_b", "a--b", "-a", "a-", "😀", "a b", "a١"),
    dead_prefixes=("1", "_", "😀", "a--", "a1b"),
)

UNICODE_IGNORECASE = GrammarCase(
    "unicode_ignorecase",
    """
start: /(?i:straße|σ)+/
""",
    accept=("straße", "STRAẞE", "Σσς", "\u017ftraße", "σStraßeΣ"),
    reject=("", "STRASSE", "strasse", "x", "straßex"),
    dead_prefixes=("x", "strass", "σx"),
)

ENGINE_CASES = (
    BALANCED_BRACKETS,
    LEFT_RECURSIVE,
    AMBIGUOUS,
    IGNORED_COMMENTS,
    OVERLAPPING_TERMINALS,
    EMPTY_RULE,
    EMPTY_WORD,
    UNICODE_WORDS,
    UNICODE_IGNORECASE,
)

ALL_CASES = BUNDLED_CASES + ENGINE_CASES
