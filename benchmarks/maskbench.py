"""MaskBench: JSON Schemas with valid and invalid instances, run through every engine token by token.

For each test instance the text ``json.dumps(data)`` is tokenized; at each token the engine
computes a mask (timed) and the token must be in it and be consumed, and after the last token
EOS must be allowed. A valid instance must pass to the end, an invalid one must be stopped
somewhere: accepting an invalid instance is the worst outcome, since a constrained model
could then emit output that violates its schema.

JSON objects are unordered and the instances list their keys in their own order, so the
``constrain`` engine accepts any key order for objects with at most 6 declared properties
(``property_order="any"``); ``constrain_schema_order`` is the generation default.

Each engine runs in its own spawned worker process so that a hang can be killed (the
schema counts as a timeout once its worker has spent ``--timeout`` seconds of CPU time on
it, or five times that in wall time) and a crash is contained (it counts as a crash); only one
worker computes at a time so the timings do not compete for the cores.

    python -m benchmarks.maskbench --sample 500 --out results.jsonl
    python -m benchmarks.maskbench --shard 0/4 --out shard0.jsonl    # full run, resumable
    python -m benchmarks.maskbench --report results.jsonl
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.common import Session
from benchmarks.maskbench_engines import SCHEMA_COMPILERS, SchemaCompiler
from benchmarks.maskbench_report import encode_times, full_report, read_records

DATA_DIR = Path("/work/shared/maskbench")
SAMPLE_SEED = 20240917
WORKER_START_TIMEOUT_S = 600.0
WALL_FACTOR = 5  # a schema's wall-clock limit, in multiples of its CPU-time limit
POLL_S = 0.2

# --- choosing the schemas ---------------------------------------------------------------------


def stratum(file_name: str) -> str:
    """A file's collection: ``Github_easy---o1.json`` -> Github_easy, ``BFCL_sql_3`` -> BFCL_sql."""
    if "---" in file_name:
        return file_name.split("---", 1)[0]
    return file_name.rsplit("_", 1)[0]


def stratified_sample(files: Sequence[str], size: int, seed: int = SAMPLE_SEED) -> list[str]:
    """``size`` files, each stratum represented in proportion to its size and at least once.

    Largest-remainder allocation, then a seeded draw inside each stratum, so the same
    ``size`` always gives the same sample.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for name in sorted(files):
        groups[stratum(name)].append(name)
    if size >= len(files):
        return sorted(files)
    quotas = {key: size * len(group) / len(files) for key, group in groups.items()}
    counts = {key: max(1, int(quota)) for key, quota in quotas.items()}
    by_remainder = sorted(groups, key=lambda key: (counts[key] - quotas[key], key))
    for key in by_remainder[: max(0, size - sum(counts.values()))]:
        counts[key] += 1
    rng = random.Random(seed)
    chosen = [name for key in sorted(groups) for name in rng.sample(groups[key], counts[key])]
    return sorted(chosen)


def parse_shard(text: str) -> tuple[int, int]:
    index, count = (int(part) for part in text.split("/"))
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"shard {text!r}: need 0 <= i < n")
    return index, count


def select_files(data_dir: Path, sample: int | None, shard: tuple[int, int]) -> list[str]:
    files = sorted(path.name for path in data_dir.glob("*.json"))
    if sample is not None:
        files = stratified_sample(files, sample)
    index, count = shard
    return files[index::count]


# --- one engine on one schema (runs inside a worker) ------------------------------------------


def timed_fill(session: Session) -> int:
    """Compute the next mask; the nanoseconds it took."""
    start = time.perf_counter_ns()
    session.fill_mask()
    return time.perf_counter_ns() - start


def walk_test(session: Session, token_ids: Sequence[int]) -> tuple[bool, list[int]]:
    """Feed the tokens then EOS; whether all were allowed, and each mask's time in ns."""
    session.reset()
    times: list[int] = []
    for token in token_ids:
        times.append(timed_fill(session))
        if not session.allows(token) or not session.advance(token):
            return False, times
    times.append(timed_fill(session))
    return session.eos_allowed(), times


def compile_error_record(error: Exception) -> dict[str, Any]:
    return {
        "status": "compile_error",
        "error": f"{type(error).__name__}: {error}"[:500],
        "error_type": type(error).__name__,
        "error_keyword": getattr(error, "keyword", None),
    }


def run_schema(compile_schema: SchemaCompiler, tokenizer: Any, path: Path) -> dict[str, Any]:
    """Compile (timed until the first mask is ready) and walk every test of one schema file."""
    bench = json.loads(path.read_text())
    start = time.perf_counter_ns()
    try:
        session = compile_schema(bench["schema"])
        session.fill_mask()
    except Exception as error:  # every engine signals refusal its own way
        return compile_error_record(error)
    compile_ms = (time.perf_counter_ns() - start) / 1e6
    tests = []
    for test in bench["tests"]:
        text = json.dumps(test["data"], ensure_ascii=False)
        token_ids = tokenizer.encode(text, add_special_tokens=False)
        try:
            accepted, times = walk_test(session, token_ids)
        except Exception as error:  # an exception while matching is the engine failing
            return {"status": "crash", "error": f"{type(error).__name__}: {error}"[:500]}
        tests.append(
            {
                "description": test.get("description", ""),
                "valid": test["valid"],
                "accepted": accepted,
                "tokens": len(token_ids),
                "mask_ns": encode_times(times),
            }
        )
    return {"status": "ok", "compile_ms": compile_ms, "tests": tests}


def worker_main(engine: str, tokenizer_name: str, connection: Connection) -> None:
    """Load the tokenizer and engine once, then answer one schema path per message."""
    from constrain.bundled_tokenizers import load_bundled_tokenizer

    tokenizer = load_bundled_tokenizer(tokenizer_name)
    compile_schema = SCHEMA_COMPILERS[engine](tokenizer)
    connection.send("ready")
    while True:  # the parent kills the worker when done
        connection.send(run_schema(compile_schema, tokenizer, Path(connection.recv())))


# --- the parent: workers with time limits -----------------------------------------------------


class Worker:
    """A spawned process running one engine; restarted after a timeout or a crash."""

    def __init__(self, engine: str, tokenizer_name: str):
        self.engine = engine
        self.tokenizer_name = tokenizer_name
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        self._process = context.Process(
            target=worker_main, args=(self.engine, self.tokenizer_name, child_end), daemon=True
        )
        self._process.start()
        child_end.close()
        self._connection = parent_end
        try:
            ready = parent_end.poll(WORKER_START_TIMEOUT_S) and parent_end.recv() == "ready"
        except EOFError:
            ready = False
        if not ready:
            self.stop()
            raise RuntimeError(f"{self.engine} worker did not start (tokenizer or engine failed to load)")

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
        self._process = None
        self._connection = None

    def run(self, path: Path, timeout_s: float) -> dict[str, Any]:
        """The worker's record for ``path``, or a timeout/crash record after restarting it."""
        if self._process is None:
            self._start()
        assert self._connection is not None and self._process is not None
        self._connection.send(str(path))
        try:
            if wait_for_answer(self._connection, self._process.pid, timeout_s):
                return self._connection.recv()
            failure = {
                "status": "timeout",
                "error": f"no answer within {timeout_s:g} s of CPU time ({WALL_FACTOR * timeout_s:g} s wall)",
            }
        except EOFError:
            self._process.join()
            failure = {"status": "crash", "error": f"worker died, exit code {self._process.exitcode}"}
        self.stop()
        return failure


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux ``/proc``; 0 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_answer(connection: Connection, pid: int, timeout_s: float) -> bool:
    """Whether the worker answers before spending ``timeout_s`` of CPU time on this schema.

    The limit is CPU time, not wall time, because the machine may be shared: a worker
    waiting for a core is not hanging. ``WALL_FACTOR`` times the limit in wall time
    still ends a worker that makes no progress at all (blocked, or where /proc is absent).
    """
    started_cpu, started_wall = cpu_seconds(pid), time.monotonic()
    while True:
        if connection.poll(POLL_S):
            return True
        used = cpu_seconds(pid) - started_cpu
        if used > timeout_s or time.monotonic() - started_wall > WALL_FACTOR * timeout_s:
            return False


def pending(
    files: Sequence[str], engines: Sequence[str], done: set[tuple[str, str]]
) -> Iterator[tuple[str, str]]:
    for file in files:
        for engine in engines:
            if (engine, file) not in done:
                yield engine, file


def run(args: argparse.Namespace) -> None:
    files = select_files(args.data, args.sample, args.shard)
    done = {(r["engine"], r["file"]) for r in read_records(args.out)}
    workers = {engine: Worker(engine, args.tokenizer) for engine in args.engines}
    todo = list(pending(files, args.engines, done))
    print(f"{len(files)} schemas, {len(todo)} (engine, schema) runs to do", file=sys.stderr)
    try:
        with args.out.open("a") as out:
            for number, (engine, file) in enumerate(todo, 1):
                record = {
                    "engine": engine,
                    "file": file,
                    **workers[engine].run(args.data / file, args.timeout),
                }
                out.write(json.dumps(record) + "\n")
                out.flush()
                print(f"[{number}/{len(todo)}] {engine} {file}: {record['status']}", file=sys.stderr)
    finally:
        for worker in workers.values():
            worker.stop()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="constrain,llguidance,xgrammar", type=lambda s: s.split(","))
    parser.add_argument(
        "--sample",
        type=int,
        help="a fixed stratified sample of about this many schemas (each collection at least once)",
    )
    parser.add_argument("--shard", type=parse_shard, default=(0, 1), help="i/n: every n-th schema from i")
    parser.add_argument("--out", type=Path, default=Path("maskbench_results.jsonl"))
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds of CPU time per schema and engine"
    )
    parser.add_argument("--tokenizer", default="llama3", help="a bundled tokenizer's name")
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--report", type=Path, help="print the tables of this results file and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.report is None:
        unknown = set(args.engines) - set(SCHEMA_COMPILERS)
        if unknown:
            raise SystemExit(f"unknown engines {sorted(unknown)}; known: {', '.join(SCHEMA_COMPILERS)}")
        run(args)
    print(full_report(read_records(args.report or args.out)))


if __name__ == "__main__":
    main()
