"""The default model: conversion to a cached safetensors directory, offline loads, tokenizer fidelity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from constrain.errors import ConstrainError
from constrain.models import (
    ROUND_TRIP_TEXTS,
    ModelLoadError,
    default_model_dir,
    gguf_tokenizer,
    load_default_model,
    load_model,
    tokenizers_agree,
)

REPO = Path(__file__).resolve().parent.parent

# Runs in a fresh process: the cached conversion must load offline without re-reading the GGUF.
_OFFLINE_LOAD = """
import json, time
import transformers.models.llama.modeling_llama  # import cost is not load cost
import constrain.models as models

def refuse(*args):
    raise AssertionError("the default model was converted again")

models._convert_default_model = refuse
started = time.perf_counter()
model, tokenizer = models.load_model("default")
seconds = time.perf_counter() - started
text = "two  spaces, then   three"
print(json.dumps({"seconds": seconds, "decoded": tokenizer.decode(tokenizer.encode(text)), "text": text}))
"""


def test_unknown_model_name_lists_what_is_accepted():
    with pytest.raises(ConstrainError, match=r"unknown model 'gpt-17'.*'default'.*local transformers"):
        load_model("gpt-17")


def test_directory_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot load a transformers model"):
        load_model(tmp_path)


class _SpaceDroppingTokenizer:
    """A tokenizer that mangles runs of spaces, the failure a bad re-save produces."""

    def __init__(self, inner):
        self._inner = inner

    def get_vocab(self):
        return self._inner.get_vocab()

    def encode(self, text, add_special_tokens=False):
        return self._inner.encode(" ".join(text.split(" ")).replace("  ", " "), add_special_tokens=False)

    def decode(self, ids):
        return self._inner.decode(ids)


@pytest.fixture(scope="module")
def default_model():
    return load_default_model()


@pytest.mark.model
def test_conversion_is_cached_and_loads_offline_fast(default_model):
    directory = default_model_dir()
    assert (directory / "config.json").is_file()
    assert (directory / "model.safetensors").is_file()
    assert not any(p.name.endswith(".tmp") for p in directory.parent.iterdir())
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", _OFFLINE_LOAD], env=environment, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["decoded"] == report["text"]
    assert report["seconds"] < 5.0  # about 1 s on an idle 2-core CPU; the GGUF path takes 15-40 s


@pytest.mark.model
def test_load_default_model_is_cached_per_process(default_model):
    assert load_default_model() is default_model
    assert load_model("default") is default_model
    model, _ = default_model
    assert not model.training


@pytest.mark.model
def test_cached_tokenizer_round_trips_like_the_gguf_tokenizer(default_model):
    _, tokenizer = default_model
    reference = gguf_tokenizer()
    assert tokenizers_agree(reference, tokenizer)
    for text in ROUND_TRIP_TEXTS:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert ids == reference.encode(text, add_special_tokens=False)
        assert tokenizer.decode(ids) == text
    assert tokenizer.chat_template == reference.chat_template
    assert not tokenizers_agree(reference, _SpaceDroppingTokenizer(reference))


@pytest.mark.model
def test_a_local_directory_loads_by_path(default_model):
    model, tokenizer = load_model(default_model_dir())
    assert model.config.vocab_size == default_model[0].config.vocab_size
    assert tokenizer.encode("a  b") == default_model[1].encode("a  b")
