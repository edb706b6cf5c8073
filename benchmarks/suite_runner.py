"""Run the official JSON-Schema-Test-Suite through constrain and compare the answers with a ratchet.

The suite gives, for each schema, JSON instances labelled valid or invalid. A constrained
decoder answers "valid" when it lets the instance's tokens through and then allows EOS, so
every case gets one outcome: right (accepted or rejected correctly), wrong (a valid instance
rejected, an invalid one accepted, a compile error, a crash or a timeout) or refused (the
schema raised UnsupportedSchemaError). The outcomes are recorded in a committed ratchet file
so a test can tell regressions from improvements; ``benchmarks/test_suite.py`` prints the
table and rewrites the ratchet, ``tests/test_json_schema_test_suite.py`` checks against it.

Each group (one schema and its cases) runs in a forked child process: the Llama-3 vocabulary
and the JIT-compiled kernels are loaded once in the parent and shared, and a child that
exceeds its time limit is killed, so a pathological schema costs a timeout, never a hang.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import multiprocessing.connection
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import constrain

ACCEPTED_CORRECTLY = "accepted_correctly"
REJECTED_CORRECTLY = "rejected_correctly"
WRONG_VALID_REJECTED = "wrong_valid_rejected"
WRONG_INVALID_ACCEPTED = "wrong_invalid_accepted"
WRONG_COMPILE_ERROR = "wrong_compile_error"
WRONG_MATCH_ERROR = "wrong_match_error"
WRONG_TIMEOUT = "wrong_timeout"
WRONG_CRASH = "wrong_crash"
REFUSED = "refused"

RIGHT_OUTCOMES = frozenset({ACCEPTED_CORRECTLY, REJECTED_CORRECTLY})
WRONG_OUTCOMES = frozenset(
    {
        WRONG_VALID_REJECTED,
        WRONG_INVALID_ACCEPTED,
        WRONG_COMPILE_ERROR,
        WRONG_MATCH_ERROR,
        WRONG_TIMEOUT,
        WRONG_CRASH,
    }
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SUITE_DIR = REPO_ROOT.parent / "shared" / "json-schema-test-suite"
RATCHET_PATH = REPO_ROOT / "tests" / "fixtures" / "json_schema_test_suite_ratchet.json"
DRAFT = "draft2020-12"
DEFAULT_GROUP_TIMEOUT_S = 30.0

Ratchet = dict[str, dict[str, dict[str, str]]]


# --- the suite as data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One instance of a group, already tokenized so the child process needs no tokenizer."""

    key: str
    data: Any
    valid: bool
    token_ids: tuple[int, ...]


@dataclass(frozen=True)
class Group:
    """One schema of the suite and its cases; ``keyword`` is the test file's name (``allOf``)."""

    keyword: str
    key: str
    schema: Any
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class GroupResult:
    """The outcome of every case of a group, and why the group failed as a whole if it did."""

    group: Group
    outcomes: tuple[str, ...]
    detail: str
    seconds: float


def suite_files(suite_dir: Path, include_optional: bool = False) -> list[Path]:
    """The draft 2020-12 test files, sorted; ``optional/`` (formats, bignums...) only on request."""
    draft_dir = suite_dir / DRAFT
    files = sorted(draft_dir.glob("*.json"))
    if include_optional:
        files += sorted((draft_dir / "optional").rglob("*.json"))
    return files


def keyword_of(path: Path, suite_dir: Path) -> str:
    """``allOf`` for ``draft2020-12/allOf.json``, ``optional/format/date`` for an optional file."""
    return path.relative_to(suite_dir / DRAFT).with_suffix("").as_posix()


def encode_instance(tokenizer: Any, data: Any) -> tuple[int, ...]:
    """The token ids of the instance as ``json.dumps`` writes it, without special tokens."""
    return tuple(tokenizer.encode(json.dumps(data, ensure_ascii=False), add_special_tokens=False))


def load_groups(suite_dir: Path, tokenizer: Any, include_optional: bool = False) -> list[Group]:
    """Every group of the suite, keyed ``"index: description"`` so the ratchet stays readable."""
    groups = []
    for path in suite_files(suite_dir, include_optional):
        keyword = keyword_of(path, suite_dir)
        for group_index, raw_group in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            cases = tuple(
                Case(
                    key=f"{case_index}: {raw_case['description']}",
                    data=raw_case["data"],
                    valid=bool(raw_case["valid"]),
                    token_ids=encode_instance(tokenizer, raw_case["data"]),
                )
                for case_index, raw_case in enumerate(raw_group["tests"])
            )
            groups.append(
                Group(keyword, f"{group_index}: {raw_group['description']}", raw_group["schema"], cases)
            )
    return groups


# --- evaluating one group (runs in the child) ----------------------------------------------------


def accepts(grammar: constrain.CompiledGrammar, token_ids: Sequence[int], eos_token_id: int) -> bool:
    """Whether the matcher takes every token and then EOS: the decoder's verdict "valid"."""
    matcher = grammar.matcher()
    return all(matcher.advance(token) for token in token_ids) and matcher.advance(eos_token_id)


def case_outcome(grammar: constrain.CompiledGrammar, case: Case, eos_token_id: int) -> str:
    """Right or wrong for one instance; an exception while matching is a wrong answer too."""
    try:
        accepted = accepts(grammar, case.token_ids, eos_token_id)
    except Exception:
        return WRONG_MATCH_ERROR
    if case.valid:
        return ACCEPTED_CORRECTLY if accepted else WRONG_VALID_REJECTED
    return WRONG_INVALID_ACCEPTED if accepted else REJECTED_CORRECTLY


# The suite's instances list keys in any order and JSON objects are unordered, so objects with
# few properties accept any key order here; larger ones keep the declaration order.
COMPILE_OPTIONS: dict[str, Any] = {"property_order": "any"}


def evaluate_group(group: Group, vocab: constrain.Vocabulary) -> tuple[tuple[str, ...], str]:
    """The outcomes of a group's cases and a detail line (refusal or error message, if any)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "unknown format ... ignored" and the like: noise here
            grammar = constrain.compile_json_schema(group.schema, vocab, **COMPILE_OPTIONS)
    except constrain.UnsupportedSchemaError as error:
        return (REFUSED,) * len(group.cases), f"UnsupportedSchemaError({error.keyword}): {error}"
    except constrain.UnsatisfiableSchemaError as error:  # the verdict "every instance is invalid"
        outcomes = tuple(WRONG_VALID_REJECTED if case.valid else REJECTED_CORRECTLY for case in group.cases)
        return outcomes, f"UnsatisfiableSchemaError: {error}"
    except Exception as error:
        return (WRONG_COMPILE_ERROR,) * len(group.cases), f"{type(error).__name__}: {error}"
    outcomes = tuple(case_outcome(grammar, case, vocab.eos_token_id) for case in group.cases)
    return outcomes, ""


def _child(group: Group, vocab: constrain.Vocabulary, connection: Any) -> None:
    connection.send(evaluate_group(group, vocab))
    connection.close()


# --- evaluating every group, a few children at a time --------------------------------------------


def warm_up(vocab: constrain.Vocabulary) -> None:
    """JIT-compile the kernels in the parent so that forked children inherit them ready to run."""
    grammar = constrain.compile_json_schema(
        {"type": "object", "properties": {"a": {"type": "string"}}}, vocab
    )
    accepts(grammar, (), vocab.eos_token_id)


@dataclass
class _Running:
    group: Group
    process: multiprocessing.process.BaseProcess
    connection: Any
    started: float


def _finish(running: _Running) -> GroupResult:
    """Collect a child's answer; a child that died without one (a native crash) is a wrong answer."""
    seconds = time.perf_counter() - running.started
    try:
        outcomes, detail = running.connection.recv()
    except EOFError:
        running.process.join()
        outcomes = (WRONG_CRASH,) * len(running.group.cases)
        detail = f"worker died with exit code {running.process.exitcode}"
    running.process.join()
    running.connection.close()
    return GroupResult(running.group, tuple(outcomes), detail, seconds)


def _kill(running: _Running, timeout_s: float) -> GroupResult:
    running.process.kill()
    running.process.join()
    running.connection.close()
    outcomes = (WRONG_TIMEOUT,) * len(running.group.cases)
    return GroupResult(running.group, outcomes, f"timeout after {timeout_s:g} s", timeout_s)


def evaluate_groups(
    groups: Sequence[Group],
    vocab: constrain.Vocabulary,
    *,
    timeout_s: float = DEFAULT_GROUP_TIMEOUT_S,
    jobs: int | None = None,
) -> list[GroupResult]:
    """Every group's result, in the order given; each group runs in its own forked child.

    The time limit covers the whole group (compile plus its few matches); matching takes
    milliseconds, so in practice it bounds the compile.
    """
    warm_up(vocab)
    gc.freeze()  # else each child's collections re-scan, and so copy, every object of the parent
    try:
        results = _run_in_children(groups, vocab, timeout_s, jobs or len(os.sched_getaffinity(0)))
    finally:
        gc.unfreeze()
    return [results[index] for index in range(len(groups))]


def _run_in_children(
    groups: Sequence[Group], vocab: constrain.Vocabulary, timeout_s: float, jobs: int
) -> dict[int, GroupResult]:
    """Keep ``jobs`` children busy; collect each answer, or kill the child at its deadline."""
    context = multiprocessing.get_context("fork")
    pending = list(enumerate(groups))[::-1]
    running: dict[int, _Running] = {}
    results: dict[int, GroupResult] = {}
    while pending or running:
        while pending and len(running) < jobs:
            index, group = pending.pop()
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(group, vocab, sender), daemon=True)
            process.start()
            sender.close()
            running[index] = _Running(group, process, receiver, time.perf_counter())
        soonest_deadline = min(entry.started for entry in running.values()) + timeout_s
        ready = multiprocessing.connection.wait(
            [entry.connection for entry in running.values()],
            timeout=max(0.0, soonest_deadline - time.perf_counter()),
        )
        now = time.perf_counter()
        for index, entry in list(running.items()):
            if entry.connection in ready:
                results[index] = _finish(running.pop(index))
            elif now - entry.started >= timeout_s:
                results[index] = _kill(running.pop(index), timeout_s)
    return results


# --- summaries, the ratchet and the comparison ---------------------------------------------------


def outcomes_by_keyword(results: Iterable[GroupResult]) -> dict[str, Counter[str]]:
    """How many cases of each test file ended in each outcome, files in suite order."""
    table: dict[str, Counter[str]] = {}
    for result in results:
        table.setdefault(result.group.keyword, Counter()).update(result.outcomes)
    return table


def to_ratchet(results: Iterable[GroupResult]) -> Ratchet:
    """``{file: {"i: group": {"j: case": outcome}}}``, the shape the ratchet file stores."""
    ratchet: Ratchet = {}
    for result in results:
        cases = {case.key: outcome for case, outcome in zip(result.group.cases, result.outcomes, strict=True)}
        ratchet.setdefault(result.group.keyword, {})[result.group.key] = cases
    return ratchet


def ratchet_text(ratchet: Ratchet) -> str:
    """One case per line, in suite order, so a change in one answer is a one-line diff."""
    return json.dumps(ratchet, indent=1, ensure_ascii=False) + "\n"


def write_ratchet(ratchet: Ratchet, path: Path = RATCHET_PATH) -> None:
    path.write_text(ratchet_text(ratchet), encoding="utf-8")


def read_ratchet(path: Path = RATCHET_PATH) -> Ratchet:
    return json.loads(path.read_text(encoding="utf-8"))


def flatten(ratchet: Ratchet) -> dict[tuple[str, str, str], str]:
    """The outcome of each case keyed by (file, group, case)."""
    return {
        (keyword, group, case): outcome
        for keyword, groups in ratchet.items()
        for group, cases in groups.items()
        for case, outcome in cases.items()
    }


@dataclass(frozen=True)
class Comparison:
    """What changed against the ratchet: failures break the test, improvements ask for a rewrite."""

    regressions: list[str]
    invalid_accepted: list[str]
    improvements: list[str]
    other_changes: list[str]

    @property
    def failed(self) -> bool:
        return bool(self.regressions or self.invalid_accepted)


def _is_regression(before: str | None, after: str) -> bool:
    """Right before and not now, or refused before and wrong now."""
    return (before in RIGHT_OUTCOMES and after not in RIGHT_OUTCOMES) or (
        before == REFUSED and after in WRONG_OUTCOMES
    )


def _is_improvement(before: str | None, after: str) -> bool:
    return after in RIGHT_OUTCOMES and before not in RIGHT_OUTCOMES


def compare(current: Ratchet, recorded: Ratchet) -> Comparison:
    """Sort every case whose outcome differs from the recorded one (and every invalid accepted)."""
    now, before = flatten(current), flatten(recorded)
    regressions, invalid_accepted, improvements, other_changes = [], [], [], []
    for key, after in now.items():
        previous = before.get(key)
        line = f"{' / '.join(key)}: {previous or 'not recorded'} -> {after}"
        if after == WRONG_INVALID_ACCEPTED:
            invalid_accepted.append(line)
        if _is_regression(previous, after):
            regressions.append(line)
        elif _is_improvement(previous, after):
            improvements.append(line)
        elif previous != after and after != WRONG_INVALID_ACCEPTED:
            other_changes.append(line)
    other_changes += [f"{' / '.join(key)}: no longer in the suite" for key in before.keys() - now.keys()]
    return Comparison(regressions, invalid_accepted, improvements, other_changes)


def wrong_case_lines(results: Iterable[GroupResult]) -> list[str]:
    """Every wrong answer, with the data and the group's error, for the report."""
    lines = []
    for result in results:
        for case, outcome in zip(result.group.cases, result.outcomes, strict=True):
            if outcome in WRONG_OUTCOMES:
                detail = f"  [{result.detail}]" if result.detail else ""
                data = json.dumps(case.data, ensure_ascii=False)
                where = f"{result.group.keyword} / {result.group.key} / {case.key}"
                lines.append(f"{outcome}: {where} / data={data}{detail}")
    return lines


def load_vocabulary(name: str = "llama3") -> tuple[Any, constrain.Vocabulary]:
    """The bundled tokenizer and its vocabulary: what the suite's instances are tokenized with."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from constrain.bundled_tokenizers import load_bundled_tokenizer

    tokenizer = load_bundled_tokenizer(name)
    return tokenizer, constrain.Vocabulary.from_tokenizer(tokenizer)


def run_suite(
    suite_dir: Path,
    *,
    include_optional: bool = False,
    timeout_s: float = DEFAULT_GROUP_TIMEOUT_S,
    jobs: int | None = None,
) -> list[GroupResult]:
    """Load the vocabulary and the suite, and evaluate every group."""
    tokenizer, vocab = load_vocabulary()
    groups = load_groups(suite_dir, tokenizer, include_optional)
    return evaluate_groups(groups, vocab, timeout_s=timeout_s, jobs=jobs)
