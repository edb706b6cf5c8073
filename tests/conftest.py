"""Fixtures shared by the test files that drive the real default model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def default_model() -> Iterator[tuple[Any, Any]]:
    """The default model and tokenizer, loaded once, on one torch thread.

    One thread because the tests share two cores with each other and with the mask work;
    at two threads the model ran ten times slower on this machine under load.
    """
    import torch

    from constrain import api

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield api.resolve_model("default")
    torch.set_num_threads(threads)
