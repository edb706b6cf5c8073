"""Numba kernels: the hot loops of mask computation.

Each kernel is a private, check-free ``@njit(cache=True)`` function behind a public
wrapper that validates its inputs. Numba's compile cost is paid once per machine: the
compiled code is cached next to this package, or under constrain's cache directory
when the package directory is not writable.
"""

import os
from pathlib import Path


def _use_writable_numba_cache() -> None:
    """Point Numba's cache at constrain's cache directory if the package is read-only."""
    if "NUMBA_CACHE_DIR" in os.environ or os.access(Path(__file__).parent, os.W_OK):
        return
    base = Path(os.environ.get("CONSTRAIN_CACHE_DIR", Path.home() / ".cache" / "constrain"))
    os.environ["NUMBA_CACHE_DIR"] = str(base / "numba")


_use_writable_numba_cache()

from constrain.native.boundary_walk import (  # noqa: E402
    DONE,
    NEED_END,
    NEED_MERGE,
    NEED_ROOM,
    NEED_START,
    UNKNOWN,
    BoundaryWalk,
    IntTable,
    pair_key,
    readable_below,
    trie_child_bytes,
    trie_parents,
)
from constrain.native.simulation import reads_all  # noqa: E402
from constrain.native.trie_walk import TrieWalker  # noqa: E402

__all__ = [
    "DONE",
    "NEED_END",
    "NEED_MERGE",
    "NEED_ROOM",
    "NEED_START",
    "UNKNOWN",
    "BoundaryWalk",
    "IntTable",
    "TrieWalker",
    "pair_key",
    "readable_below",
    "reads_all",
    "trie_child_bytes",
    "trie_parents",
]
