"""The Lark grammars shipped with constrain, looked up by name (``"json"``) or read from a path.

The ``.lark`` files live in the repository's top-level ``grammars/`` directory, which an
installation ships as the data package ``constrain.bundled_grammars`` (a different name
from this module's, which a package would shadow). A source checkout has no such package,
so the directory next to ``constrain/`` is read instead.
"""

from __future__ import annotations

import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from constrain.errors import GrammarError

__all__ = ["bundled_grammar_names", "load_grammar"]

_SUFFIX = ".lark"
_DATA_PACKAGE = "constrain.bundled_grammars"


def _bundled_directory() -> Traversable:
    """The installed data package, else the source checkout's top-level ``grammars/``."""
    try:
        return resources.files(_DATA_PACKAGE)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "grammars"


def bundled_grammar_names() -> tuple[str, ...]:
    """Names accepted by :func:`load_grammar`, sorted, without the ``.lark`` suffix."""
    directory = _bundled_directory()
    if not directory.is_dir():
        return ()
    return tuple(
        sorted(entry.name[: -len(_SUFFIX)] for entry in directory.iterdir() if entry.name.endswith(_SUFFIX))
    )


def load_grammar(name_or_path: str | os.PathLike[str]) -> str:
    """The text of a bundled grammar (``"json"`` or ``"json.lark"``) or of a grammar file.

    A bare name (no directory part) is looked up among the bundled grammars first;
    anything else is read as a path. Raises :class:`GrammarError` naming the bundled
    grammars when neither exists, or when the file cannot be read as UTF-8 text.
    """
    text = os.fspath(name_or_path)
    stem = text[: -len(_SUFFIX)] if text.endswith(_SUFFIX) else text
    is_bare_name = bool(stem) and os.path.basename(text) == text
    if is_bare_name and stem in bundled_grammar_names():
        return _read(_bundled_directory().joinpath(stem + _SUFFIX), text)
    path = Path(text)
    if path.is_file():
        return _read(path, text)
    names = ", ".join(bundled_grammar_names()) or "none found"
    raise GrammarError(f"unknown grammar {text!r}: neither a bundled grammar ({names}) nor a grammar file")


def _read(source: Traversable, shown_as: str) -> str:
    try:
        return source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise GrammarError(f"cannot read grammar {shown_as!r}: {error}") from None
