"""The ``format`` keyword: one defining regex per supported format, over the decoded value.

Each format is a single regex, full match, Python dialect, assembled below from named
pieces that mirror the grammar of the RFC it comes from. Digits are written ``[0-9]``
(never ``\\d``, which also matches non-ASCII digits in Unicode regexes). Decisions:

* date, time, date-time (RFC 3339 §5.6): exact days per month and exact Gregorian leap
  years (RFC 3339 Appendix C), so ``2024-02-29`` is valid, ``2023-02-29`` and
  ``1900-02-29`` are not; year ``0000`` is accepted (RFC 3339 allows 0000..9999, and it
  is a leap year). ``T`` and ``Z`` may be lower case (RFC 3339 §5.6 note). A leap second
  ``:60`` is accepted only as ``23:59:60`` with a zero offset (``Z``, ``+00:00`` or
  ``-00:00``), on any date: the leap second exists only at 23:59:60 UTC, and accepting
  it under any other offset exactly would need a state per minute of the day (~1,440x
  larger automaton), so valid leap seconds written in a non-UTC offset are rejected.
* duration (JSON Schema 2020-12 Appendix A, from RFC 3339 Appendix A): exact; the
  designator letters may be lower case, since ABNF string literals are case-insensitive
  (RFC 5234 §2.3).
* email: RFC 5321 §4.1.2 ``Mailbox`` restricted to ASCII: a dot-string or quoted-string
  local part, ``@``, and a domain of hostname labels (as below) or an address literal
  ``[IPv4]`` / ``[IPv6:...]`` (the general address literal ``[tag:...]`` is not
  accepted). RFC 5321's size limits (§4.5.3: 64-octet local part, 255-octet domain) are
  not enforced.
* hostname (RFC 1123 §2.1 / RFC 952): dot-separated labels of letters, digits and
  hyphens, not starting or ending with a hyphen, 1..63 characters each. The 253
  character limit on the whole name is NOT enforced: combined with the per-label limit it
  takes 23,809 states instead of 125 (178,125 instead of 938 as a JSON string), so names
  longer than 253 characters are accepted. A schema wanting the limit can add
  ``maxLength: 253``, which builds exactly that automaton. No trailing dot.
* ipv4 (RFC 2673 §3.2 dotted-quad): four decimal octets 0..255, no leading zeros.
* ipv6 (RFC 4291 §2.2): all text forms, ``::`` compression and an embedded dotted
  IPv4 tail, exactly as RFC 3986's ``IPv6address`` rule; no zone id.
* uuid (RFC 4122): 8-4-4-4-12 hex digits, either case, any version and variant.
* uri, uri-reference (RFC 3986 §3 and §4.1): exact ``URI`` and ``URI-reference`` syntax,
  ASCII only (IRIs are a different format).
* json-pointer (RFC 6901 §3): ``/``-prefixed reference tokens in which ``~`` only
  appears as ``~0`` or ``~1``; any other character, non-ASCII included, stands for itself.

The other formats the specification defines (``regex``, ``idn-email``, ``idn-hostname``,
``iri``, ``iri-reference``, ``uri-template``, ``relative-json-pointer``) have no automaton
here; they are listed in ``SPECIFIED_FORMATS`` so that the schema compiler refuses them
rather than ignoring them: a validator asserting them would reject instances the grammar
let through (``regex`` validity, for one, is not a regular language).
"""

from __future__ import annotations

from functools import cache

from constrain.byte_dfa import ByteDFA, compile_regex_dfa

# --- RFC 3339 dates and times ---
_DIGIT = "[0-9]"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"  # 31-day months
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"  # 30-day months
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"  # February, except the 29th
)
# year % 4 == 0 and (year % 100 != 0 or year % 400 == 0), on four digits.
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
FULL_DATE = f"(?:[0-9]{{4}}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_SECFRAC = r"(?:\.[0-9]+)?"
_TIME_OFFSET = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_PARTIAL_TIME = f"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]{_SECFRAC}"
_LEAP_SECOND = f"23:59:60{_SECFRAC}(?:[Zz]|[+-]00:00)"
FULL_TIME = f"(?:{_PARTIAL_TIME}{_TIME_OFFSET}|{_LEAP_SECOND})"
DATE_TIME = f"{FULL_DATE}[Tt]{FULL_TIME}"

# --- Durations: JSON Schema 2020-12 Appendix A ---
_DUR_SECOND = "[0-9]+[Ss]"
_DUR_MINUTE = f"[0-9]+[Mm](?:{_DUR_SECOND})?"
_DUR_HOUR = f"[0-9]+[Hh](?:{_DUR_MINUTE})?"
_DUR_TIME = f"[Tt](?:{_DUR_HOUR}|{_DUR_MINUTE}|{_DUR_SECOND})"
_DUR_DAY = "[0-9]+[Dd]"
_DUR_MONTH = f"[0-9]+[Mm](?:{_DUR_DAY})?"
_DUR_YEAR = f"[0-9]+[Yy](?:{_DUR_MONTH})?"
_DUR_DATE = f"(?:{_DUR_DAY}|{_DUR_MONTH}|{_DUR_YEAR})(?:{_DUR_TIME})?"
DURATION = f"[Pp](?:{_DUR_DATE}|{_DUR_TIME}|[0-9]+[Ww])"

# --- IP addresses ---
_DEC_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = rf"{_DEC_OCTET}(?:\.{_DEC_OCTET}){{3}}"
_H16 = "[0-9A-Fa-f]{1,4}"
_LS32 = f"(?:{_H16}:{_H16}|{IPV4})"


def _compressed(max_before: int, after: str) -> str:
    """``[ *max_before( h16 ":" ) h16 ] "::" after`` of RFC 3986 §3.2.2."""
    before = "" if max_before < 0 else f"(?:(?:{_H16}:){{0,{max_before}}}{_H16})?"
    return f"{before}::{after}"


# RFC 3986 §3.2.2 IPv6address: the nine ways to place (or omit) the "::".
_IPV6_FORMS = [
    f"(?:{_H16}:){{6}}{_LS32}",
    _compressed(-1, f"(?:{_H16}:){{5}}{_LS32}"),
    _compressed(0, f"(?:{_H16}:){{4}}{_LS32}"),
    _compressed(1, f"(?:{_H16}:){{3}}{_LS32}"),
    _compressed(2, f"(?:{_H16}:){{2}}{_LS32}"),
    _compressed(3, f"{_H16}:{_LS32}"),
    _compressed(4, _LS32),
    _compressed(5, _H16),
    _compressed(6, ""),
]
IPV6 = f"(?:{'|'.join(_IPV6_FORMS)})"

# --- Host names and email (RFC 1123, RFC 5321) ---
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*"
_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_STRING = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED_STRING = r'"(?:[ !#-\[\]-~]|\\[ -~])*"'
_SNUM = "(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"  # RFC 5321 allows leading zeros here
_ADDRESS_LITERAL = rf"\[(?:{_SNUM}(?:\.{_SNUM}){{3}}|[Ii][Pp][Vv]6:{IPV6})\]"
EMAIL = f"(?:{_DOT_STRING}|{_QUOTED_STRING})@(?:{HOSTNAME}|{_ADDRESS_LITERAL})"

UUID = "[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"

# --- RFC 3986 URIs; character classes list the ABNF alternatives ---
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT_ENCODED = "%[0-9A-Fa-f]{2}"
_PCHAR = f"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT_ENCODED})"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"
_USERINFO = f"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT_ENCODED})*"
_IP_FUTURE = rf"[Vv][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+"
_REG_NAME = f"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT_ENCODED})*"
_HOST = rf"(?:\[(?:{IPV6}|{_IP_FUTURE})\]|{IPV4}|{_REG_NAME})"
_AUTHORITY = f"(?:{_USERINFO}@)?{_HOST}(?::[0-9]*)?"
_SEGMENT = f"{_PCHAR}*"
_SEGMENT_NZ = f"{_PCHAR}+"
_SEGMENT_NZ_NC = f"(?:[{_UNRESERVED}{_SUB_DELIMS}@]|{_PCT_ENCODED})+"
_PATH_ABEMPTY = f"(?:/{_SEGMENT})*"
_PATH_ABSOLUTE = f"/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"
_PATH_ROOTLESS = f"{_SEGMENT_NZ}(?:/{_SEGMENT})*"
_PATH_NOSCHEME = f"{_SEGMENT_NZ_NC}(?:/{_SEGMENT})*"
_QUERY_OR_FRAGMENT = f"(?:{_PCHAR}|[/?])*"
_TAIL = rf"(?:\?{_QUERY_OR_FRAGMENT})?(?:#{_QUERY_OR_FRAGMENT})?"
URI = f"{_SCHEME}:(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_ROOTLESS}|){_TAIL}"
_RELATIVE_REF = f"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_NOSCHEME}|){_TAIL}"
URI_REFERENCE = f"(?:{URI}|{_RELATIVE_REF})"

# --- RFC 6901 JSON Pointer ---
JSON_POINTER = "(?:/(?:[^/~]|~[01])*)*"

FORMAT_REGEXES: dict[str, str] = {
    "date-time": DATE_TIME,
    "date": FULL_DATE,
    "time": FULL_TIME,
    "duration": DURATION,
    "email": EMAIL,
    "hostname": HOSTNAME,
    "ipv4": IPV4,
    "ipv6": IPV6,
    "uuid": UUID,
    "uri": URI,
    "uri-reference": URI_REFERENCE,
    "json-pointer": JSON_POINTER,
}

# Every format JSON Schema 2020-12 §7.3 defines; any other name is a custom annotation.
SPECIFIED_FORMATS = frozenset(
    {
        *FORMAT_REGEXES,
        "idn-email",
        "idn-hostname",
        "iri",
        "iri-reference",
        "uri-template",
        "relative-json-pointer",
        "regex",
    }
)


@cache
def format_dfa(name: str) -> ByteDFA | None:
    """The automaton of the UTF-8 values valid for format ``name``; None if unsupported.

    Unsupported formats are annotations the caller may ignore (with a warning), as the
    JSON Schema specification allows.
    """
    regex = FORMAT_REGEXES.get(name)
    return None if regex is None else compile_regex_dfa(regex, "python")
