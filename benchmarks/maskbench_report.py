"""Tables from MaskBench records: mask and compile latency percentiles, correctness counts.

Records are the JSON lines maskbench.py writes, one per (engine, schema); the report reads
nothing else, so a sharded run's concatenated outputs give the same table as one run.
"""

from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import render_table

MASK_PERCENTILES = (50, 75, 90, 95, 99, 99.9)
COMPILE_PERCENTILES = (50, 75, 90, 99)


def encode_times(times_ns: Sequence[int]) -> str:
    """Per-token times as base64 of little-endian uint32 nanoseconds (clipped at ~4.3 s)."""
    array = np.minimum(np.asarray(times_ns, dtype=np.int64), 2**32 - 1).astype("<u4")
    return base64.b64encode(array.tobytes()).decode("ascii")


def decode_times(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<u4").astype(np.int64)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a results file; a later record for the same (engine, file) wins."""
    if not path.exists():
        return []
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            latest[(record["engine"], record["file"])] = record
    return list(latest.values())


def wrong_tests(record: dict[str, Any], *, valid: bool) -> list[dict[str, Any]]:
    """The tests with ``valid`` whose verdict is wrong: a valid one rejected, an invalid one accepted."""
    return [test for test in record.get("tests", []) if test["valid"] == valid and test["accepted"] != valid]


def is_passing(record: dict[str, Any]) -> bool:
    return (
        record["status"] == "ok"
        and not wrong_tests(record, valid=True)
        and not wrong_tests(record, valid=False)
    )


def _percentiles(values: Iterable[float], points: Sequence[float]) -> list[float]:
    array = np.fromiter(values, dtype=np.float64)
    if array.size == 0:
        return [float("nan")] * len(points)
    return [float(v) for v in np.percentile(array, points)]


def engine_row(engine: str, records: list[dict[str, Any]]) -> list[object]:
    """One table row: mask µs percentiles, compile ms percentiles, then the counts."""
    compiled = [r for r in records if r["status"] == "ok"]
    mask_us = [decode_times(t["mask_ns"]) / 1e3 for r in compiled for t in r["tests"]]
    all_mask_us = np.concatenate(mask_us) if mask_us else np.empty(0)
    statuses = Counter(r["status"] for r in records)
    return [
        engine,
        *_percentiles(all_mask_us, MASK_PERCENTILES),
        *_percentiles((r["compile_ms"] for r in compiled), COMPILE_PERCENTILES),
        len(records),
        sum(is_passing(r) for r in records),
        statuses["compile_error"],
        sum(bool(wrong_tests(r, valid=True)) for r in compiled),
        sum(bool(wrong_tests(r, valid=False)) for r in compiled),
        statuses["timeout"],
        statuses["crash"],
    ]


HEADERS = (
    ["engine"]
    + [f"mask p{p:g}" for p in MASK_PERCENTILES]
    + [f"comp p{p:g}" for p in COMPILE_PERCENTILES]
    + ["schemas", "passing", "comp err", "valid err", "invalid err", "timeout", "crash"]
)


def summary_table(records: list[dict[str, Any]]) -> str:
    by_engine: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_engine[record["engine"]].append(record)
    rows = [engine_row(engine, group) for engine, group in sorted(by_engine.items())]
    return render_table(
        "MaskBench: mask time per token (µs), compile time to first mask (ms), schema counts",
        HEADERS,
        rows,
    )


def keyword_table(records: list[dict[str, Any]], engine: str = "constrain") -> str:
    """How often each keyword is named by the engine's UnsupportedSchemaError, most frequent first."""
    keywords = Counter(
        r.get("error_keyword") or f"({r.get('error_type', 'other')})"
        for r in records
        if r["engine"] == engine and r["status"] == "compile_error"
    )
    rows = [[keyword, count] for keyword, count in keywords.most_common()]
    return render_table(f"{engine} compile errors by keyword", ["keyword", "schemas"], rows)


def wrong_verdicts(records: list[dict[str, Any]], engine: str = "constrain", *, valid: bool) -> str:
    """One line per wrong test of ``engine``: file and the test's description."""
    lines = [
        f"  {r['file']}: {test['description']}"
        for r in sorted(records, key=lambda r: r["file"])
        if r["engine"] == engine and r["status"] == "ok"
        for test in wrong_tests(r, valid=valid)
    ]
    what = "valid instances rejected" if valid else "invalid instances accepted"
    return "\n".join([f"{engine}: {what}: {len(lines)}", *lines])


def failures(records: list[dict[str, Any]], engine: str = "constrain") -> str:
    """Timeouts and crashes of ``engine`` with their messages."""
    lines = [
        f"  {r['status']}: {r['file']}: {r.get('error') or ''}"[:300]
        for r in sorted(records, key=lambda r: r["file"])
        if r["engine"] == engine and r["status"] in ("timeout", "crash")
    ]
    return "\n".join([f"{engine}: timeouts and crashes: {len(lines)}", *lines])


def full_report(records: list[dict[str, Any]]) -> str:
    return "\n\n".join(
        [
            summary_table(records),
            keyword_table(records),
            wrong_verdicts(records, valid=False),
            wrong_verdicts(records, valid=True),
            failures(records),
        ]
    )
