"""Iterator helpers shared by agent and central (itertools.batched arrives only in 3.12)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to `size` consecutive items (each list filled by islice, in C)."""
    it = iter(items)
    while page := list(itertools.islice(it, size)):
        yield page
