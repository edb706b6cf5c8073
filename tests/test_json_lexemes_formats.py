"""Format automata: accept/reject tables, the defining regexes, and jsonschema's format checkers."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from constrain.json_lexemes import format_dfa, json_string_dfa
from constrain.json_lexemes.formats import FORMAT_REGEXES

# name: (valid, invalid)
EXAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "date": (
        ["2024-02-29", "2000-02-29", "1600-02-29", "0000-02-29", "2021-12-31", "2021-04-30", "1963-06-19"],
        [
            "2023-02-29",
            "1900-02-29",
            "2021-04-31",
            "2021-13-01",
            "2021-00-10",
            "2021-01-00",
            "21-01-01",
            "2021-1-01",
        ],
    ),
    "date-time": (
        [
            "1963-06-19T08:30:06.283185Z",
            "1963-06-19t08:30:06.283185z",
            "1937-01-01T12:00:27.87+00:20",
            "1998-12-31T23:59:60Z",
            "1998-12-31T23:59:60.5+00:00",
            "1998-12-31T23:59:60-00:00",
        ],
        [
            "1998-12-31T15:59:60-08:00",  # a real leap second, but only UTC leap seconds are accepted
            "1998-12-31T23:58:60Z",
            "1998-12-31T23:59:61Z",
            "2020-01-01T24:00:00Z",
            "2020-01-01T12:00:00",
            "2020-01-01 12:00:00Z",
            "2020-02-30T12:00:00Z",
            "1990-12-31T15:59:59-24:00",
            "1963-06-19T08:30:06.Z",
        ],
    ),
    "time": (
        ["08:30:06Z", "08:30:06.283185+05:30", "23:59:60z", "00:00:00-23:59"],
        ["08:30:06", "8:30:06Z", "08:30:06+24:00", "08:60:00Z", "12:00:60Z", "08:30:06 Z"],
    ),
    "duration": (
        ["P4DT12H30M5S", "P4Y", "PT0S", "P0D", "P1M", "PT1M", "PT36H", "P1W", "P1Y2M3DT4H5M6S", "p1d"],
        ["PT1D", "P", "P1YT", "PT", "P2D1Y", "P1D2H", "P2S", "P1Y2W", "P1", "P1.5D", "1D"],
    ),
    "email": (
        [
            "joe.bloggs@example.com",
            '"joe bloggs"@example.com',
            "joe@[127.0.0.1]",
            "joe@[IPv6:::1]",
            "te~st@a",
            "a+b@x-y.z",
        ],
        [".a@b", "a.@b", "a..b@c", "a@", "@b", "a@b@c", "a b@c", "a@-b.com", "joe@[IPv6:1::2::3]", "a@b..c"],
    ),
    "hostname": (
        ["example.com", "a", "xn--bcher-kva.ch", "a" * 63 + ".com", "1.2.3", "a-b.c-d"],
        ["-a.com", "a-.com", "a" * 64 + ".com", "example.com.", "a..b", "", "a_b.com", "ex ample.com"],
    ),
    "ipv4": (
        ["192.168.0.1", "0.0.0.0", "255.255.255.255", "10.0.0.1"],
        ["256.0.0.1", "01.0.0.1", "1.2.3", "1.2.3.4.5", "1.2.3.04", "1.2.3.4 ", "١.2.3.4"],
    ),
    "ipv6": (
        [
            "::1",
            "::",
            "1::",
            "1:2:3:4:5:6:7:8",
            "::ffff:192.168.0.1",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5:6:7::",
            "FE80::A",
        ],
        [
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "12345::",
            "fe80::1%eth0",
            "1:2:3:4:5:6:7:1.2.3.4",
            ":1::",
            "::1.2.3.04",
        ],
    ),
    "uuid": (
        [
            "2EB8AA08-AA98-11EA-B4AA-73B441D16380",
            "2eb8aa08-aa98-11ea-b4aa-73b441d16380",
            "00000000-0000-0000-0000-000000000000",
        ],
        [
            "2eb8aa08aa9811eab4aa73b441d16380",
            "2eb8aa08-aa98-11ea-b4aa-73b441d1638",
            "{2eb8aa08-aa98-11ea-b4aa-73b441d16380}",
        ],
    ),
    "uri": (
        [
            "http://foo.bar/?baz=qux#quux",
            "http://[2001:db8::1]:80/x",
            "urn:isbn:0451450523",
            "mailto:a@b.c",
            "http://[v1.x]/",
            "a:",
        ],
        [
            "//foo.bar/?baz=qux#quux",
            "http:// shouldfail.com",
            "\\\\WINDOWS\\fileshare",
            "abc",
            "http://example.com/%zz",
            "1a:b",
        ],
    ),
    "uri-reference": (
        ["//foo.bar/?baz=qux#quux", "/abc", "abc", "#frag", "", "a:b:c", "../x?y"],
        ["\\\\WINDOWS\\fileshare", "#frag#", "a b", "%zz", "http://[::1/x"],
    ),
}
# Characters that mutations of valid examples draw from, per format.
MUTATION_ALPHABET = {
    "date": "0123459-",
    "date-time": "0123569-:.TZtz+ ",
    "time": "0123569:.Zz+-",
    "duration": "0159PYMWDTHSpt.",
    "email": 'ab.@"[]:-IPv6 \\',
    "hostname": "ab09-._",
    "ipv4": "0123459.",
    "ipv6": "0129afAF:.%",
    "uuid": "09afAF-{}",
    "uri": "ab09:/?#[]@%.-~ ",
    "uri-reference": "ab09:/?#[]@%.-~ ",
}
# Where jsonschema's checkers knowingly differ from the documented definitions.
JSONSCHEMA_DIVERGES = {
    "date": lambda s: s.startswith("0000"),  # year 0 is valid RFC 3339, not a Python date
    "date-time": lambda s: s.startswith("0000") or ":60" in s,  # its validator has no leap seconds
    "time": lambda s: ":60" in s,
    "uuid": lambda s: s.count("-") != 4,  # it accepts extra hyphens anywhere
}
CHECKED_BY_JSONSCHEMA = ["date", "date-time", "time", "ipv4", "ipv6", "uuid"]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples(name):
    dfa = format_dfa(name)
    strings = json_string_dfa(format=name)
    valid, invalid = EXAMPLES[name]
    for value in valid:
        assert dfa.matches(value.encode()), value
        assert strings.matches(json.dumps(value).encode()), value
    for value in invalid:
        assert not dfa.matches(value.encode()), value
        assert not strings.matches(json.dumps(value).encode()), value


def test_unknown_formats():
    assert format_dfa("no-such-format") is None
    assert format_dfa("regex") is None


@st.composite
def mutated(draw, name: str) -> str:
    """A valid example of ``name`` with a few characters replaced, inserted or deleted."""
    value = list(draw(st.sampled_from(EXAMPLES[name][0])))
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(value)))
        edit = draw(st.sampled_from(["replace", "insert", "delete"]))
        char = draw(st.sampled_from(MUTATION_ALPHABET[name]))
        if edit == "insert" or not value:
            value.insert(position, char)
        elif edit == "replace":
            value[min(position, len(value) - 1)] = char
        else:
            del value[min(position, len(value) - 1)]
    return "".join(value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(EXAMPLES)), st.data())
def test_automaton_matches_its_defining_regex(name, data):
    value = data.draw(mutated(name))
    assert format_dfa(name).matches(value.encode()) == bool(re.fullmatch(FORMAT_REGEXES[name], value)), value


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CHECKED_BY_JSONSCHEMA), st.data())
def test_agrees_with_jsonschema_format_checker(name, data):
    value = data.draw(mutated(name))
    if JSONSCHEMA_DIVERGES.get(name, lambda s: False)(value):
        return
    assert format_dfa(name).matches(value.encode()) == Draft202012Validator.FORMAT_CHECKER.conforms(
        value, name
    ), value


@st.composite
def ipv6_candidates(draw) -> str:
    """Colon-separated groups (some malformed), maybe a dotted tail, maybe a ``::``."""
    groups = draw(st.lists(st.sampled_from(["0", "1", "ab", "FFFF", "0db8", "12345", ""]), max_size=8))
    parts = groups + draw(st.sampled_from([[], ["1.2.3.4"], ["255.0.0.01"]]))
    if not draw(st.booleans()):
        return ":".join(parts)
    cut = draw(st.integers(0, len(parts)))
    return ":".join(parts[:cut]) + "::" + ":".join(parts[cut:])


YEARS = st.sampled_from([1, 1900, 2000, 2023, 2024, 2100, 2400, 9999]) | st.integers(1, 9999)
DATES = st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", YEARS, st.integers(0, 13), st.integers(0, 32))
OCTETS = st.sampled_from(["0", "1", "9", "10", "99", "199", "249", "255", "256", "300", "00", "01", ""])
IPV4S = (st.lists(OCTETS, min_size=4, max_size=4) | st.lists(OCTETS, max_size=5)).map(".".join)
CANDIDATES = {
    "ipv6": ipv6_candidates(),
    "ipv4": IPV4S,
    "date": DATES,
    "date-time": st.tuples(DATES, st.sampled_from(["T12:00:00Z", "T23:59:59.5+01:00"])).map("".join),
}


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(CANDIDATES)), st.data())
def test_structured_candidates_agree_with_jsonschema(name, data):
    value = data.draw(CANDIDATES[name])
    assert format_dfa(name).matches(value.encode()) == Draft202012Validator.FORMAT_CHECKER.conforms(
        value, name
    ), value
