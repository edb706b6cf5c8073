"""The official JSON-Schema-Test-Suite must never get worse: checked against a committed ratchet.

``tests/fixtures/json_schema_test_suite_ratchet.json`` records every case's outcome (written by
``python benchmarks/test_suite.py --write-ratchet``). A case that was right and no longer is,
or was refused and is now answered wrong, fails the test; so does any invalid instance
accepted, recorded or not, because letting invalid output through is the one error a
constrained decoder must never make. Improvements only print a note asking for the ratchet
to be rewritten: the test never writes files. The evaluation itself lives in
``benchmarks/suite_runner.py`` (benchmark logic stays out of the package), imported by path.
The suite sits outside the repository, so the run skips when it is absent; the comparison
logic is checked on small synthetic ratchets either way.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import pytest

import constrain

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import suite_runner
from suite_runner import (
    ACCEPTED_CORRECTLY,
    REFUSED,
    REJECTED_CORRECTLY,
    WRONG_COMPILE_ERROR,
    WRONG_INVALID_ACCEPTED,
    WRONG_TIMEOUT,
    WRONG_VALID_REJECTED,
    compare,
)

REWRITE_HINT = "re-run `python benchmarks/test_suite.py --write-ratchet` to record them"


@pytest.fixture(scope="module")
def byte_vocab() -> constrain.Vocabulary:
    """One token per byte plus EOS: instances tokenize to their UTF-8 bytes, no tokenizer needed."""
    return constrain.Vocabulary.from_token_bytes([bytes([byte]) for byte in range(256)] + [b""], [256])


def group_of(schema: object, *cases: tuple[object, bool]) -> suite_runner.Group:
    return suite_runner.Group(
        keyword="kw",
        key="0: group",
        schema=schema,
        cases=tuple(
            suite_runner.Case(f"{index}: case", data, valid, tuple(json.dumps(data).encode()))
            for index, (data, valid) in enumerate(cases)
        ),
    )


def test_every_outcome_of_a_compiled_schema(byte_vocab: constrain.Vocabulary) -> None:
    group = group_of({"type": "integer"}, (1, True), ("a", False), ("a", True), (2, False))
    [result] = suite_runner.evaluate_groups([group], byte_vocab, jobs=1)
    assert result.outcomes == (
        ACCEPTED_CORRECTLY,
        REJECTED_CORRECTLY,
        WRONG_VALID_REJECTED,
        WRONG_INVALID_ACCEPTED,
    )


def test_refusals_and_compile_errors_cover_the_whole_group(byte_vocab: constrain.Vocabulary) -> None:
    refused = group_of({"type": "array", "uniqueItems": True}, ([1], True), ([1, 1], False))
    broken = group_of({"type": "object", "minProperties": "many"}, ({}, True))
    results = suite_runner.evaluate_groups([refused, broken], byte_vocab, jobs=2)
    assert [result.outcomes for result in results] == [(REFUSED, REFUSED), (WRONG_COMPILE_ERROR,)]
    assert results[0].detail.startswith("UnsupportedSchemaError(uniqueItems)")
    assert results[1].detail


def test_a_hung_group_times_out_and_a_dead_worker_is_an_error(
    byte_vocab: constrain.Vocabulary, monkeypatch: pytest.MonkeyPatch
) -> None:
    def hang_or_die(group: suite_runner.Group, vocab: constrain.Vocabulary) -> None:
        if group.schema == "hang":
            time.sleep(60)
        os._exit(3)

    monkeypatch.setattr(suite_runner, "evaluate_group", hang_or_die)
    started = time.perf_counter()
    hung, dead = suite_runner.evaluate_groups(
        [group_of("hang", (1, True)), group_of("die", (1, True))], byte_vocab, timeout_s=1.0, jobs=2
    )
    assert time.perf_counter() - started < 10
    assert hung.outcomes == (WRONG_TIMEOUT,) and "timeout" in hung.detail
    assert dead.outcomes == (suite_runner.WRONG_CRASH,) and "exit code 3" in dead.detail


def ratchet_of(**outcomes: str) -> suite_runner.Ratchet:
    """A one-file, one-group ratchet whose cases are the keyword arguments."""
    return {"kw": {"0: group": dict(outcomes)}}


def test_right_case_that_goes_wrong_is_a_regression() -> None:
    comparison = compare(
        ratchet_of(a=WRONG_VALID_REJECTED, b=REFUSED), ratchet_of(a=ACCEPTED_CORRECTLY, b=REJECTED_CORRECTLY)
    )
    assert comparison.failed
    assert [line.split(":")[0] for line in comparison.regressions] == ["kw / 0", "kw / 0"]
    assert "a: accepted_correctly -> wrong_valid_rejected" in comparison.regressions[0]


def test_refused_case_that_goes_wrong_is_a_regression() -> None:
    comparison = compare(ratchet_of(a=WRONG_COMPILE_ERROR), ratchet_of(a=REFUSED))
    assert comparison.failed
    assert len(comparison.regressions) == 1


def test_invalid_accepted_fails_even_when_recorded() -> None:
    comparison = compare(ratchet_of(a=WRONG_INVALID_ACCEPTED), ratchet_of(a=WRONG_INVALID_ACCEPTED))
    assert comparison.failed
    assert comparison.invalid_accepted and not comparison.regressions


def test_improvements_and_neutral_changes_do_not_fail() -> None:
    comparison = compare(
        ratchet_of(a=ACCEPTED_CORRECTLY, b=REFUSED, c=WRONG_COMPILE_ERROR),
        ratchet_of(a=REFUSED, b=WRONG_VALID_REJECTED, c=WRONG_VALID_REJECTED, gone=REFUSED),
    )
    assert not comparison.failed
    assert len(comparison.improvements) == 1
    assert len(comparison.other_changes) == 3  # b and c changed kind of answer, "gone" left the suite


def test_unchanged_outcomes_compare_clean() -> None:
    recorded = ratchet_of(a=ACCEPTED_CORRECTLY, b=REFUSED, c=WRONG_VALID_REJECTED)
    comparison = compare(recorded, recorded)
    assert not comparison.failed
    assert not comparison.improvements and not comparison.other_changes


def test_ratchet_file_is_written_in_its_stable_form() -> None:
    """The committed file must be exactly what --write-ratchet produces, so diffs stay one line per case."""
    if not suite_runner.RATCHET_PATH.exists():
        pytest.fail(f"{suite_runner.RATCHET_PATH} is missing; {REWRITE_HINT}")
    text = suite_runner.RATCHET_PATH.read_text(encoding="utf-8")
    assert suite_runner.ratchet_text(suite_runner.read_ratchet()) == text


@pytest.mark.slow  # ~16 s on 2 idle cores, 35-45 s when the machine is busy
def test_json_schema_test_suite_does_not_regress() -> None:
    suite_dir = suite_runner.DEFAULT_SUITE_DIR
    if not (suite_dir / suite_runner.DRAFT).is_dir():
        pytest.skip(f"JSON-Schema-Test-Suite not found at {suite_dir}")
    recorded = suite_runner.read_ratchet()
    current = suite_runner.to_ratchet(suite_runner.run_suite(suite_dir))
    comparison = compare(current, recorded)
    changes = comparison.improvements + comparison.other_changes
    if changes:
        note = f"{len(changes)} JSON-Schema-Test-Suite outcomes changed without regressing; {REWRITE_HINT}"
        print(note + ":\n" + "\n".join(changes))
        warnings.warn(note, stacklevel=1)
    failures = [
        *(f"regressed: {line}" for line in comparison.regressions),
        *(f"invalid instance accepted: {line}" for line in comparison.invalid_accepted),
    ]
    assert not failures, "\n".join(failures)
