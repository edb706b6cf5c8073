"""Smoke runs of the example scripts, each in its own process with a small budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, *args: str) -> str:
    """The script's stdout; it must exit 0 without a traceback, offline, on one torch thread."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert "Traceback" not in process.stderr
    return process.stdout


def test_smc_vs_mask_shows_the_bias_that_smc_removes():
    out = _run("smc_vs_mask.py", "--particles", "500")
    tv = [float(line.split("=")[1].split()[0]) for line in out.splitlines() if line.startswith("TV(")]
    masked_trap, smc_trap, masked_longer, smc_longer = tv
    assert masked_trap > 0.7 and smc_trap < 0.1  # exact values: 0.809 and about 0.01
    assert masked_longer > smc_longer
    assert "bc           0.9091   0.1000" in out


@pytest.mark.model
def test_extract_invoice():
    invoice = json.loads(_run("extract_invoice.py", "--max-new-tokens", "70"))
    assert invoice["invoice_number"] == "INV-2041" and invoice["total"] == 1250.0


@pytest.mark.model
def test_function_calling():
    out = _run("function_calling.py", "--max-new-tokens", "60", "What's the weather like in Paris?")
    assert out.startswith("call: get_weather({'city': 'Paris'") and "result: " in out


@pytest.mark.model
def test_sql_query():
    out = _run("sql_query.py", "--max-new-tokens", "40")
    assert out.startswith("query: SELECT") and "\nrows: " in out


@pytest.mark.model
def test_smiles():
    out = _run("smiles.py", "--max-new-tokens", "20", "--samples", "1")
    labels = [line.split(":")[0].strip() for line in out.splitlines()]
    assert labels == ["greedy", "sample (seed 0)"]
