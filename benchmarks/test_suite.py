"""How many cases of the official JSON-Schema-Test-Suite constrain answers right, per keyword.

Usage: ``python benchmarks/test_suite.py [--suite DIR] [--optional] [--write-ratchet]``.
Prints, per test file, the cases accepted correctly, rejected correctly, answered wrong
(valid rejected / invalid accepted / errors and timeouts) and refused, then lists every
wrong answer. ``--write-ratchet`` records the outcomes in
``tests/fixtures/json_schema_test_suite_ratchet.json``, which the test suite compares against.
Schemas compile with ``suite_runner.COMPILE_OPTIONS`` (any key order for small objects).
For context, the issue reports xgrammar right on 869 of 1,299 cases with 298 invalid
instances accepted, and llguidance right on 583 with none accepted wrongly and 694 refused.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from suite_runner import (
    ACCEPTED_CORRECTLY,
    DEFAULT_GROUP_TIMEOUT_S,
    DEFAULT_SUITE_DIR,
    RATCHET_PATH,
    REFUSED,
    REJECTED_CORRECTLY,
    WRONG_COMPILE_ERROR,
    WRONG_CRASH,
    WRONG_INVALID_ACCEPTED,
    WRONG_MATCH_ERROR,
    WRONG_TIMEOUT,
    WRONG_VALID_REJECTED,
    GroupResult,
    outcomes_by_keyword,
    run_suite,
    to_ratchet,
    write_ratchet,
    wrong_case_lines,
)

COLUMNS = (
    ("accepted ok", (ACCEPTED_CORRECTLY,)),
    ("rejected ok", (REJECTED_CORRECTLY,)),
    ("valid rejected", (WRONG_VALID_REJECTED,)),
    ("invalid accepted", (WRONG_INVALID_ACCEPTED,)),
    ("error/timeout", (WRONG_COMPILE_ERROR, WRONG_MATCH_ERROR, WRONG_TIMEOUT, WRONG_CRASH)),
    ("refused", (REFUSED,)),
)


def table_row(name: str, counts: Counter[str]) -> list[str]:
    return [name, *(str(sum(counts[outcome] for outcome in outcomes)) for _, outcomes in COLUMNS)]


def format_table(results: list[GroupResult]) -> str:
    """One row per test file and a total row, columns right-aligned."""
    by_keyword = outcomes_by_keyword(results)
    total: Counter[str] = sum(by_keyword.values(), Counter())
    rows = [["keyword", *(title for title, _ in COLUMNS)]]
    rows += [table_row(keyword, counts) for keyword, counts in by_keyword.items()]
    rows.append(table_row(f"total ({total.total()} cases)", total))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def refusal_summary(results: list[GroupResult]) -> str:
    """Which keywords the refusals name, most frequent first (cases counted)."""
    refusals: Counter[str] = Counter()
    for result in results:
        if result.outcomes and result.outcomes[0] == REFUSED:
            refusals[result.detail.split(":", 1)[0]] += len(result.outcomes)
    return ", ".join(f"{reason} x{count}" for reason, count in refusals.most_common())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=DEFAULT_SUITE_DIR, help="JSON-Schema-Test-Suite dir")
    parser.add_argument("--optional", action="store_true", help="also run draft2020-12/optional/")
    parser.add_argument("--timeout", type=float, default=DEFAULT_GROUP_TIMEOUT_S, help="seconds per group")
    parser.add_argument("--jobs", type=int, default=None, help="groups evaluated in parallel")
    parser.add_argument("--write-ratchet", action="store_true", help=f"write {RATCHET_PATH.name}")
    args = parser.parse_args()
    if args.write_ratchet and args.optional:
        parser.error("the ratchet records the required suite only; drop --optional")

    started = time.perf_counter()
    results = run_suite(args.suite, include_optional=args.optional, timeout_s=args.timeout, jobs=args.jobs)
    print(format_table(results))
    print(f"\n{len(results)} groups in {time.perf_counter() - started:.1f} s")
    slowest = sorted(results, key=lambda result: result.seconds, reverse=True)[:5]
    print(
        "slowest groups: " + ", ".join(f"{r.group.keyword}/{r.group.key} {r.seconds:.1f} s" for r in slowest)
    )
    print(f"refusals: {refusal_summary(results)}")
    wrong = wrong_case_lines(results)
    print(f"\n{len(wrong)} wrong answers:" if wrong else "\nno wrong answers")
    print("\n".join(wrong))
    if args.write_ratchet:
        write_ratchet(to_ratchet(results))
        print(f"\nwrote {RATCHET_PATH}")


if __name__ == "__main__":
    main()
