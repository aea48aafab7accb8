"""Deterministic randomness per (seed, index, stream): the patient is a pure function of these.

Streams keep facets independent, so adding a clinical feature never shifts anyone's name.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence
from itertools import accumulate
from typing import TypeVar

T = TypeVar("T")

DEMOGRAPHICS = 1
CLINICAL = 2
PLACEMENT = 3  # which providers hold what: must not depend on clinical draws order
VACCINATION = 4


def rng(seed: int, index: int, stream: int) -> random.Random:
    """A fresh generator for one facet of one patient (seeding costs ~6 us)."""
    return random.Random((seed << 40) ^ (index << 4) ^ stream)


def token(*parts: object) -> str:
    """Short stable hex token, used in resource ids (stable per seed, index and provider)."""
    text = ":".join(str(p) for p in parts).encode()
    return hashlib.blake2b(text, digest_size=6).hexdigest()


def unit(*parts: object) -> float:
    """A stable number in [0, 1) for a key, independent of any generator's state."""
    text = ":".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=7).digest()) / 2**56


class Weighted:
    """Weighted choice with a precomputed cumulative table (random.choices recomputes it)."""

    __slots__ = ("items", "_cum", "_total")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:  # type: ignore[type-var]
        self.items = list(items)
        self._cum = list(accumulate(weights))
        self._total = self._cum[-1]

    def pick(self, r: random.Random):  # noqa: ANN201 - item type follows the items
        return self.items[bisect.bisect(self._cum, r.random() * self._total)]

    def at(self, u: float):  # noqa: ANN201
        """Pick with a given uniform number, for draws keyed by hash rather than a generator."""
        return self.items[bisect.bisect(self._cum, u * self._total)]
