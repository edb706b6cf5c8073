"""MaskBench driver: sampling, the per-test walk, the records it writes and the report it prints.

The walk runs constrain over a tiny character vocabulary, so the verdicts are checked
against schemas small enough to know the answer; the report is checked on hand-made
records whose counts are known.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import constrain
from benchmarks import maskbench
from benchmarks.common import ConstrainSession
from benchmarks.maskbench import run_schema, select_files, stratified_sample, stratum, walk_test
from benchmarks.maskbench_report import (
    decode_times,
    encode_times,
    engine_row,
    is_passing,
    keyword_table,
    read_records,
    wrong_verdicts,
)

CHARS = '{}[]":, 0123456789abcdefghijklmnopqrstuvwxyz-.'
EOS = len(CHARS)


class CharTokenizer:
    """One token per character, the shape of the transformers ``encode`` the driver calls."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [CHARS.index(char) for char in text]


@pytest.fixture(scope="module")
def compile_schema():
    vocab = constrain.Vocabulary.from_token_bytes([c.encode() for c in CHARS] + [b""], [EOS])
    return lambda schema: ConstrainSession(constrain.compile_json_schema(schema, vocab))


def test_stratum_is_the_collection_name():
    assert stratum("Github_easy---o10010.json") == "Github_easy"
    assert stratum("Glaiveai2K---calculate_area_12.json") == "Glaiveai2K"
    assert stratum("BFCL_parallel_multiple_7.json") == "BFCL_parallel_multiple"


def test_stratified_sample_is_fixed_sized_and_covers_every_stratum():
    files = [f"big_{i}.json" for i in range(90)] + [f"small_{i}.json" for i in range(9)] + ["tiny_0.json"]
    sample = stratified_sample(files, 20)
    assert sample == stratified_sample(list(reversed(files)), 20)
    assert len(sample) == len(set(sample)) == 20
    counts = Counter(stratum(name) for name in sample)
    assert counts == {"big": 18, "small": 1, "tiny": 1}
    assert stratified_sample(files, 500) == sorted(files)


def test_shards_partition_the_selection(tmp_path: Path):
    for i in range(7):
        (tmp_path / f"a_{i}.json").write_text("{}")
    shards = [select_files(tmp_path, None, (i, 3)) for i in range(3)]
    assert sorted(name for shard in shards for name in shard) == select_files(tmp_path, None, (0, 1))
    assert [len(shard) for shard in shards] == [3, 2, 2]


def test_times_survive_encoding_and_are_clipped():
    times = [0, 1, 999_999, 2**33]
    assert decode_times(encode_times(times)).tolist() == [0, 1, 999_999, 2**32 - 1]


def test_walk_accepts_exactly_the_schema_language(compile_schema):
    session = compile_schema({"type": "array", "items": {"type": "integer"}, "maxItems": 2})
    tokenizer = CharTokenizer()
    accepted, times = walk_test(session, tokenizer.encode("[1, 2]"))
    assert accepted and len(times) == len("[1, 2]") + 1
    rejected_at_token, times = walk_test(session, tokenizer.encode("[1, 2, 3]"))
    assert not rejected_at_token and len(times) == len("[1, 2,")  # the comma is refused
    rejected_at_eos, times = walk_test(session, tokenizer.encode("[1"))
    assert not rejected_at_eos and len(times) == len("[1") + 1


def test_run_schema_records_verdicts_and_compile_errors(tmp_path: Path, compile_schema):
    bench = {
        "schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        "tests": [
            {"description": "good", "valid": True, "data": {"a": 1}},
            {"description": "wrong type", "valid": False, "data": {"a": "x"}},
        ],
    }
    path = tmp_path / "x_1.json"
    path.write_text(json.dumps(bench))
    record = run_schema(compile_schema, CharTokenizer(), path)
    assert record["status"] == "ok" and record["compile_ms"] > 0
    assert [(t["valid"], t["accepted"]) for t in record["tests"]] == [(True, True), (False, False)]
    first = record["tests"][0]
    assert first["tokens"] == len('{"a": 1}') == len(decode_times(first["mask_ns"])) - 1

    path.write_text(json.dumps({**bench, "schema": {"type": "array", "uniqueItems": True}}))
    record = run_schema(compile_schema, CharTokenizer(), path)
    assert record["status"] == "compile_error" and record["error_keyword"] == "uniqueItems"


def _record(engine: str, file: str, verdicts: list[tuple[bool, bool]], status: str = "ok") -> dict:
    times = encode_times([1000, 3000])
    tests = [
        {"description": f"t{i}", "valid": v, "accepted": a, "tokens": 2, "mask_ns": times}
        for i, (v, a) in enumerate(verdicts)
    ]
    return {"engine": engine, "file": file, "status": status, "compile_ms": 5.0, "tests": tests}


def test_report_counts_each_kind_of_outcome():
    records = [
        _record("e", "pass.json", [(True, True), (False, False)]),
        _record("e", "lax.json", [(True, True), (False, True)]),
        _record("e", "strict.json", [(True, False), (False, False)]),
        {"engine": "e", "file": "err.json", "status": "compile_error", "error_keyword": "not"},
        {"engine": "e", "file": "slow.json", "status": "timeout"},
    ]
    row = engine_row("e", records)
    assert row[1] == pytest.approx(2.0) and row[7] == pytest.approx(5.0)
    assert row[-7:] == [5, 1, 1, 1, 1, 1, 0]
    assert [is_passing(r) for r in records] == [True, False, False, False, False]
    assert "lax.json: t1" in wrong_verdicts(records, "e", valid=False)
    assert "strict.json: t0" in wrong_verdicts(records, "e", valid=True)
    assert "not" in keyword_table(records, "e")


def test_read_records_keeps_the_latest_record_per_engine_and_file(tmp_path: Path):
    path = tmp_path / "results.jsonl"
    lines = [_record("e", "a.json", [], "timeout"), _record("e", "a.json", []), _record("f", "a.json", [])]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    records = read_records(path)
    assert sorted((r["engine"], r["status"]) for r in records) == [("e", "ok"), ("f", "ok")]
    assert np.isnan(engine_row("g", [])[1])


def _busy(connection) -> None:
    connection.send("ready")
    while True:
        pass


def _answer_after(connection, seconds: float) -> None:
    connection.send("ready")
    time.sleep(seconds)
    connection.send("done")
    time.sleep(60)


def _waited(target, *args) -> bool:
    """Whether ``wait_for_answer`` saw an answer from a child running ``target``."""
    context = multiprocessing.get_context("fork")  # quick to start; the driver spawns
    parent_end, child_end = context.Pipe()
    child = context.Process(target=target, args=(child_end, *args), daemon=True)
    child.start()
    try:
        assert parent_end.recv() == "ready"  # imports done: their CPU time is not the schema's
        return maskbench.wait_for_answer(parent_end, child.pid, timeout_s=0.5)
    finally:
        child.kill()
        child.join()


def test_cpu_seconds_counts_this_process():
    start = maskbench.cpu_seconds(os.getpid())
    sum(range(3_000_000))
    assert maskbench.cpu_seconds(os.getpid()) > start


def test_the_time_limit_counts_cpu_time_and_caps_wall_time(monkeypatch):
    monkeypatch.setattr(maskbench, "WALL_FACTOR", 8)
    assert not _waited(_busy)  # spends the CPU limit
    assert _waited(_answer_after, 1.0)  # idle longer than the CPU limit: not a timeout
    assert not _waited(_answer_after, 30.0)  # idle past the wall-time cap
