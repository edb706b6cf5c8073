"""The ``constrain`` command: ``extract`` (text files -> JSONL), ``check-grammar`` and ``bench``.

Exit codes: 0 success, 1 a runtime or validation failure, 2 a usage error (argparse's).
Every expected failure (bad schema or grammar file, unknown model, unreadable input, an
unsatisfiable schema, running out of tokens) is one ``constrain: error: ...`` line on
stderr, never a traceback. Checks that need no model run before the model is loaded.

``extract -o FILE`` resumes: inputs already recorded in FILE are skipped, and each record is
flushed as soon as it is written, so an interruption loses at most the file in progress.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from constrain import api
from constrain.errors import ConstrainError, GrammarError
from constrain.ir import Grammar
from constrain.prompts import extraction_prompt

__all__ = ["main"]

_PROGRAM = "constrain"
_BENCH_STEPS = 48
_WARM_UP_GRAMMAR = 'start: WORD ("," WORD)*\nWORD: /[a-z]+/\n'


class _Failure(Exception):
    """An expected failure: its message is printed as is, and the exit code is 1."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse exits with 2 on usage errors)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, parser)
    except (_Failure, ConstrainError) as error:
        print(f"{_PROGRAM}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{_PROGRAM}: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_PROGRAM, description="Grammar-constrained generation.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    extract = commands.add_parser(
        "extract", help="extract JSON records from text files into JSONL, one per file"
    )
    extract.add_argument("files", nargs="+", metavar="FILE", help="text files, or folders of them, to read")
    extract.add_argument("--schema", required=True, help="JSON Schema file of one record")
    extract.add_argument("--model", default="default", help="'default' or a local model directory")
    extract.add_argument("--instructions", help="replaces the default extraction instruction")
    extract.add_argument("-o", "--output", help="JSONL file to append to (resumes); stdout if omitted")
    extract.add_argument("--max-new-tokens", type=_positive_int, default=512)
    extract.add_argument("--sampler", default="mask", help="'mask' (default) or another sampler")
    extract.add_argument("--temperature", type=float, default=0.0, help="0 (default) decodes greedily")
    extract.add_argument("--seed", type=int)
    extract.add_argument("--threads", type=_positive_int, help="torch CPU threads (default: torch's choice)")
    extract.set_defaults(run=_extract)

    check = commands.add_parser("check-grammar", help="check a Lark grammar file; prints OK or the error")
    check.add_argument("grammar", metavar="GRAMMAR", help="a .lark file or a bundled grammar name")
    check.set_defaults(run=_check_grammar)

    bench = commands.add_parser("bench", help="time token masks over the bundled grammars")
    bench.add_argument("--grammars", help="comma-separated bundled grammar names (default: all)")
    bench.add_argument("--steps", type=_positive_int, default=_BENCH_STEPS, help="masks per grammar")
    bench.add_argument("--seed", type=int, default=0)
    bench.set_defaults(run=_bench)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


# ---------------------------------------------------------------------------- extract


@dataclass(frozen=True)
class _Extraction:
    """Everything one extraction run needs besides the files: schema, grammar, model, options."""

    document: Any
    key: Hashable
    ir: Grammar
    model: Any
    tokenizer: Any
    instructions: str | None
    sampling: dict[str, Any]

    def record(self, path: str) -> tuple[dict[str, Any], int, float]:
        """The record for one file, its generated token count and seconds."""
        text = Path(path).read_text(encoding="utf-8")
        prompt = extraction_prompt(self.document, text, self.instructions)
        result = api.run_constrained(self.model, self.tokenizer, prompt, self.key, self.ir, self.sampling)
        value = api.parse_json_output(result.text, self.document, None)
        return {"file": path, "data": value}, len(result.token_ids), result.seconds


def _extract(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from constrain.generation import SAMPLERS

    if args.sampler not in SAMPLERS:
        parser.error(f"argument --sampler: choose from {', '.join(SAMPLERS)}, not {args.sampler!r}")
    document, key, ir = _schema_from_file(args.schema)
    inputs = list(dict.fromkeys(path for given in args.files for path in _input_files(given)))
    done = _finished_files(Path(args.output)) if args.output else set()
    todo = [path for path in inputs if path not in done]
    if not todo:
        print(f"{_PROGRAM}: all {len(inputs)} files are already in {args.output}", file=sys.stderr)
        return 0
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model, tokenizer = api.resolve_model(args.model)
    sampling = {
        "max_new_tokens": args.max_new_tokens,
        "sampler": args.sampler,
        "temperature": args.temperature,
        "seed": args.seed,
    }
    job = _Extraction(document, key, ir, model, tokenizer, args.instructions, sampling)
    with _output(args.output) as out:
        failures = _extract_files(job, todo, out)
    for failure in failures:
        print(f"{_PROGRAM}: error: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _extract_files(job: _Extraction, paths: list[str], out: TextIO) -> list[str]:
    """Write one record per file, flushed at once; returns the messages of the files that failed.

    A file that fails (undecodable, out of tokens) is reported and left out of the output, so
    a later run with ``-o`` retries it; the other files go on.
    """
    from tqdm import tqdm

    failures = []
    tokens, seconds = 0, 0.0
    with tqdm(paths, desc="extract", unit="file", file=sys.stderr, dynamic_ncols=True) as progress:
        for path in progress:
            try:
                record, new_tokens, new_seconds = job.record(path)
            except (OSError, UnicodeDecodeError, ConstrainError) as error:
                failures.append(f"{path}: {_reason(error)}")
                continue
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            tokens, seconds = tokens + new_tokens, seconds + new_seconds
            progress.set_postfix_str(f"{tokens / max(seconds, 1e-9):.1f} tok/s")
    return failures


def _schema_from_file(path: str) -> tuple[Any, Any, Any]:
    """The schema document and its checked grammar; every schema error before any model load."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _Failure(f"cannot read schema file {path!r}: {_reason(error)}") from None
    try:
        document, _ = api.schema_document(text)
        key, ir = api.schema_grammar(document, api.json_schema_options())
    except ConstrainError as error:
        raise _Failure(f"schema {path!r}: {error}") from None
    return document, key, ir


def _input_files(given: str) -> list[str]:
    """``given`` if it is a readable file; a folder's visible files, sorted; else a failure."""
    if os.path.isdir(given):
        names = sorted(name for name in os.listdir(given) if not name.startswith("."))
        paths = [os.path.join(given, name) for name in names if os.path.isfile(os.path.join(given, name))]
        if not paths:
            raise _Failure(f"input folder {given!r} holds no files")
        return [_readable(path) for path in paths]
    return [_readable(given)]


def _readable(path: str) -> str:
    if not os.path.isfile(path):
        raise _Failure(f"cannot read input file {path!r}: no such file")
    if not os.access(path, os.R_OK):
        raise _Failure(f"cannot read input file {path!r}: permission denied")
    return path


def _finished_files(output: Path) -> set[str]:
    """Files recorded in ``output``; a torn last line (an interrupted write) is dropped first."""
    try:
        lines = output.read_text(encoding="utf-8").splitlines(keepends=True)
    except FileNotFoundError:
        return set()
    except (OSError, UnicodeDecodeError) as error:
        raise _Failure(f"cannot read output file {str(output)!r} to resume: {_reason(error)}") from None
    records = {}
    kept = []
    for line in lines:
        record = _record(line)
        if record is not None and line.endswith("\n"):
            records[record] = True
            kept.append(line)
    if len(kept) != len(lines):
        output.write_text("".join(kept), encoding="utf-8")
    return set(records)


def _record(line: str) -> str | None:
    """The file name of one JSONL record, or None if the line is not a record."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    name = record.get("file") if isinstance(record, dict) else None
    return name if isinstance(name, str) and "data" in record else None


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    """The output file opened for appending, or stdout (left open)."""
    if path is None:
        yield sys.stdout
        return
    try:
        file = open(path, "a", encoding="utf-8")  # noqa: SIM115 -- the with below closes it
    except OSError as error:
        raise _Failure(f"cannot write output file {path!r}: {_reason(error)}") from None
    with file:
        yield file


def _reason(error: BaseException) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


# ---------------------------------------------------------------------------- check-grammar


def _check_grammar(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from constrain.cfg import normalize
    from constrain.grammars import load_grammar
    from constrain.lark_frontend import grammar_from_lark

    try:
        grammar = grammar_from_lark(load_grammar(args.grammar))
        normal = normalize(grammar)
    except GrammarError as error:
        raise _Failure(f"{args.grammar}: {error}") from None
    print(f"OK: {args.grammar} ({len(grammar.rules)} rules, {len(normal.terminal_dfas)} terminals)")
    return 0


# ---------------------------------------------------------------------------- bench


def _bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Compile each bundled grammar for the default tokenizer and time masks along random walks."""
    import numpy as np

    from constrain.grammars import bundled_grammar_names, load_grammar
    from constrain.models import load_default_model
    from constrain.vocabulary import Vocabulary

    names = args.grammars.split(",") if args.grammars else list(bundled_grammar_names())
    bundled = bundled_grammar_names()
    unknown = sorted(set(names) - set(bundled))
    if unknown:
        parser.error(f"argument --grammars: unknown {', '.join(unknown)}; bundled: {', '.join(bundled)}")
    vocab = Vocabulary.from_tokenizer(load_default_model()[1])
    _bench_grammar("warm-up", _WARM_UP_GRAMMAR, vocab, 2, np.random.default_rng(0))  # loads native code
    rng = np.random.default_rng(args.seed)
    rows = [_bench_grammar(name, load_grammar(name), vocab, args.steps, rng) for name in names]
    print(
        f"Token masks, SmolLM2 vocabulary ({vocab.size} ids), {args.steps} random allowed tokens per grammar"
    )
    print(_table(("grammar", "compile ms", "first mask ms", "mean us", "p50 us", "p99 us", "masks"), rows))
    return 0


def _bench_grammar(name: str, text: str, vocab: Any, steps: int, rng: Any) -> tuple[object, ...]:
    import numpy as np

    from constrain.compiled_grammar import compile_grammar

    started = time.perf_counter()
    compiled = compile_grammar(text, vocab)
    matcher = compiled.matcher()
    bitmask = vocab.allocate_bitmask()
    compile_seconds = time.perf_counter() - started
    timings = []
    for _ in range(steps):
        started = time.perf_counter()
        matcher.fill_bitmask(bitmask)
        timings.append(time.perf_counter() - started)
        allowed = np.unpackbits(bitmask.view(np.uint8), bitorder="little")[: vocab.size]
        allowed[list(vocab.eos_token_ids)] = 0
        if not allowed.any():
            break
        matcher.advance(int(rng.choice(np.flatnonzero(allowed))))
    later = sorted(timings[1:]) or timings
    return (
        name,
        f"{compile_seconds * 1e3:.0f}",
        f"{timings[0] * 1e3:.1f}",
        f"{sum(later) / len(later) * 1e6:.0f}",
        f"{later[len(later) // 2] * 1e6:.0f}",
        f"{later[min(len(later) - 1, int(len(later) * 0.99))] * 1e6:.0f}",
        len(timings),
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, headers)), *[list(map(str, row)) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _aligned(row: Sequence[str], widths: Sequence[int]) -> list[str]:
    """The first column left-aligned (names), the others right-aligned (numbers)."""
    return [row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True))]


if __name__ == "__main__":
    sys.exit(main())
