"""Where constrain keeps preprocessed data between processes, and how it writes it safely.

Preprocessing a 150k-token vocabulary costs about a second; keeping the result on disk keyed
by a content fingerprint makes the second load cheap. Several processes may share the
directory, so files are written to a temporary name and renamed into place: a reader sees
either no file or a complete one, never a half-written file.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

CACHE_DIR_ENV = "CONSTRAIN_CACHE_DIR"


def cache_dir() -> Path:
    """The cache directory: ``$CONSTRAIN_CACHE_DIR`` or ``~/.cache/constrain``, created on demand."""
    configured = os.environ.get(CACHE_DIR_ENV)
    directory = Path(configured).expanduser() if configured else Path.home() / ".cache" / "constrain"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` (via a rename) only once fully written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file."""
    with _atomic_file(path) as file:
        file.write(data)


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Store named arrays as an uncompressed ``.npz`` file, atomically."""
    with _atomic_file(path) as file:
        np.savez(file, **arrays)


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays stored by :func:`save_arrays`, or None when the file is missing or unreadable.

    An unreadable file (truncated by a crash of an older writer, foreign content) is treated
    as a cache miss so that the caller rebuilds and overwrites it.
    """
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
