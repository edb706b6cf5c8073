"""The ``constrain`` command line: extraction to JSONL with progress and resume, check-grammar,
bench, and one clear error line (no traceback) with a non-zero exit for every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from constrain.cli import main

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
}
TEXTS = {
    "a.txt": "Grace Hopper was 85 years old.",
    "b.txt": "Alan Turing died at 41.",
    "c.txt": "Marie Curie lived to 66.",
}
MISSING_MODEL = "/nonexistent/model"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    for name, text in TEXTS.items():
        (tmp_path / "docs" / name).write_text(text + "\n")
    (tmp_path / "person.json").write_text(json.dumps(PERSON))
    return tmp_path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    """main(argv) in this process; argparse's usage errors become their exit code."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# ---------------------------------------------------------------- bad input, no model needed


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("constrain: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("schema_text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "nonsense"}', "schema"),
        ('{"type": "integer", "minimum": 5, "maximum": 1}', "unsatisfiable"),
        ('{"type": "array", "items": {"type": "object"}, "uniqueItems": true}', "uniqueItems"),
    ],
)
def test_bad_schema_files_fail_before_the_model_loads(capsys, folder, schema_text, message):
    (folder / "bad.json").write_text(schema_text)
    code, _, err = _run(
        capsys,
        "extract",
        "--schema",
        str(folder / "bad.json"),
        "--model",
        MISSING_MODEL,
        str(folder / "docs/a.txt"),
    )
    assert code == 1 and message in _error_line(err) and "bad.json" in err


def test_missing_schema_and_input_files(capsys, folder):
    code, _, err = _run(capsys, "extract", "--schema", str(folder / "nope.json"), str(folder / "docs/a.txt"))
    assert code == 1 and "cannot read schema file" in _error_line(err)
    schema = str(folder / "person.json")
    code, _, err = _run(
        capsys, "extract", "--schema", schema, "--model", MISSING_MODEL, str(folder / "missing.txt")
    )
    assert code == 1 and "cannot read input file" in _error_line(err) and "missing.txt" in err
    (folder / "empty").mkdir()
    code, _, err = _run(
        capsys, "extract", "--schema", schema, "--model", MISSING_MODEL, str(folder / "empty")
    )
    assert code == 1 and "holds no files" in _error_line(err)


def test_unknown_model_name(capsys, folder):
    code, _, err = _run(
        capsys,
        "extract",
        "--schema",
        str(folder / "person.json"),
        "--model",
        "gpt-17",
        str(folder / "docs/a.txt"),
    )
    assert code == 1 and "unknown model 'gpt-17'" in _error_line(err)


def test_usage_errors_exit_with_2(capsys, folder):
    assert _run(capsys, "extract", str(folder / "docs/a.txt"))[0] == 2  # no --schema
    code, _, err = _run(
        capsys,
        "extract",
        "--schema",
        str(folder / "person.json"),
        "--sampler",
        "beam",
        str(folder / "docs/a.txt"),
    )
    assert code == 2 and "--sampler" in err
    assert _run(capsys, "frobnicate")[0] == 2


def test_check_grammar(capsys, tmp_path):
    good = tmp_path / "good.lark"
    good.write_text('start: WORD+\nWORD: /[a-z]+/\n%ignore " "\n')
    code, out, _ = _run(capsys, "check-grammar", str(good))
    assert code == 0 and out.startswith("OK")
    bad = tmp_path / "bad.lark"
    bad.write_text('start: a\na: "x" |* "y"\n')
    code, out, err = _run(capsys, "check-grammar", str(bad))
    assert code == 1 and out == "" and "line 2, column 9" in err
    undefined = tmp_path / "undefined.lark"
    undefined.write_text("start: a\n")
    code, _, err = _run(capsys, "check-grammar", str(undefined))
    assert code == 1 and "'a' used but not defined" in err
    assert _run(capsys, "check-grammar", str(tmp_path / "absent.lark"))[0] == 1


def test_the_module_runs_as_a_command_without_traceback(folder):
    """The real process: exit code and stderr of ``python -m constrain.cli`` on a bad schema."""
    (folder / "bad.json").write_text("[1, 2")
    process = subprocess.run(
        [sys.executable, "-m", "constrain.cli", "extract", "--schema", str(folder / "bad.json"), "x.txt"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert process.returncode == 1
    assert process.stderr.startswith("constrain: error: schema") and "Traceback" not in process.stderr


# ---------------------------------------------------------------- the real model


@pytest.mark.model
def test_extract_a_folder_resumes_and_shows_progress(capsys, folder, default_model):
    """One record is already there (and a torn line from an interrupted write): it is kept and
    its file skipped; the other two are extracted, with tokens per second on stderr."""
    output = folder / "out.jsonl"
    done = {"file": str(folder / "docs/a.txt"), "data": {"name": "kept as is", "age": 1}}
    output.write_text(json.dumps(done) + '\n{"file": "torn')
    files = sorted(str(path) for path in (folder / "docs").iterdir())
    schema = str(folder / "person.json")
    code, out, err = _run(  # a folder stands for its files, in name order
        capsys,
        "extract",
        "--schema",
        schema,
        "-o",
        str(output),
        "--max-new-tokens",
        "30",
        str(folder / "docs"),
    )
    assert code == 0 and out == ""
    assert "tok/s" in err and "2/2" in err
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r["file"] for r in records] == files
    assert records[0] == done
    assert records[1]["data"] == {"name": "Alan Turing", "age": 41}  # greedy by default
    assert {"name", "age"} == set(records[2]["data"])
    # Everything is done now: a rerun loads no model and writes nothing.
    code, _, err = _run(capsys, "extract", "--schema", str(folder / "person.json"), "-o", str(output), *files)
    assert code == 0 and "already" in err and len(output.read_text().splitlines()) == 3


@pytest.mark.model
def test_extract_to_stdout_and_running_out_of_tokens(capsys, folder, default_model):
    schema, text = str(folder / "person.json"), str(folder / "docs/a.txt")
    code, out, err = _run(capsys, "extract", "--schema", schema, "--max-new-tokens", "30", text)
    assert code == 0 and json.loads(out) == {"file": text, "data": {"name": "Grace Hopper", "age": 85}}
    code, out, err = _run(capsys, "extract", "--schema", schema, "--max-new-tokens", "3", text)
    assert code == 1 and out == ""
    assert "max_new_tokens=3" in _error_line(err) and "partial output: '{" in err


@pytest.mark.model
def test_bench_prints_a_table(capsys, default_model):
    code, out, _ = _run(capsys, "bench", "--grammars", "json,csv", "--steps", "4")
    assert code == 0
    assert "p50 us" in out.splitlines()[1]
    assert [line.split()[0] for line in out.splitlines()[3:]] == ["json", "csv"]
