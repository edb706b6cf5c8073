"""A time budget that the search loops poll cheaply, raising :class:`OutOfTime` when spent."""

from __future__ import annotations

import time

_POLL_EVERY = 256  # loop iterations between two clock reads


class OutOfTime(Exception):
    """Internal: the check's budget ran out; the checker turns it into Verdict.TIMEOUT."""


class Deadline:
    """``tick()`` once per loop iteration; reads the clock every few hundred ticks only."""

    def __init__(self, seconds: float | None):
        self._end = None if seconds is None else time.monotonic() + seconds
        self._countdown = 0

    def tick(self) -> None:
        if self._end is None:
            return
        self._countdown -= 1
        if self._countdown <= 0:
            self._countdown = _POLL_EVERY
            if time.monotonic() >= self._end:
                raise OutOfTime
