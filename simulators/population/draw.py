"""Deterministic randomness per (seed, index, stream): the patient is a pure function of these.

Streams keep facets independent, so adding a clinical feature never shifts anyone's name.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")

DEMOGRAPHICS = 1
CLINICAL = 2
PLACEMENT = 3  # which providers hold what: must not depend on clinical draws order
VACCINATION = 4
LABS = 5  # the GP's lab results: a change to the lab catalogue must not shift admissions
# The other parts of a clinical record, each drawn on first use (clinical.ClinicalRecord):
MEDICATION = 6  # medication and allergies
CARE = 7  # GP contacts, measurements, lifestyle and other status
ADMISSIONS = 8  # hospital stays and the waiting list

# Salts of the placement numbers drawn with unit().
HOSPITAL = 1
SITE = 2
PHARMACY = 3
GGZ = 4
GGZ_SITE = 5
RIVM = 6
RVP = 7
FLU = 8
FLU_SEASON = 9


_seed = random.Random.__mro__[1].seed  # the C seeding that Random.seed calls for an int


class _Generator(random.Random):
    """``random.Random(x)`` for an int ``x``, the same generator, without ``Random.seed``'s
    dispatch on the seed's type in Python (a tenth of the cost; a person seeds two to four)."""

    def __init__(self, x: int) -> None:
        _seed(self, x)
        self.gauss_next = None


def rng(seed: int, index: int, stream: int) -> random.Random:
    """A fresh generator for one facet of one patient (seeding costs ~3 us)."""
    return _Generator((seed << 40) ^ (index << 4) ^ stream)


def token(*parts: object) -> str:
    """Short stable hex token, used in resource ids (stable per seed, index and provider)."""
    text = ":".join(map(str, parts)).encode()
    return hashlib.blake2b(text, digest_size=6).hexdigest()


_M64 = 0xFFFFFFFFFFFFFFFF


def _mix(x: int) -> int:
    """splitmix64 finaliser: portable, and ~5x cheaper than a hashlib call."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


@lru_cache(maxsize=256)  # a dozen salts per seed
def _salted(salt: int, seed: int) -> int:
    """The first mixing round of :func:`unit`: the same for everyone of a seed, so done once
    (``unit`` runs six or so times per person)."""
    return _mix((seed & _M64) ^ (salt << 56))


def unit(salt: int, seed: int, index: int, extra: int = 0) -> float:
    """A stable number in [0, 1) for (salt, seed, index, extra), independent of generators.

    Placement decisions (GP, hospital, pharmacy) use these so that they can be computed
    without drawing the whole clinical record.
    """
    x = _mix(_mix(_salted(salt, seed) ^ index) ^ extra)
    return (x >> 11) / 9007199254740992.0


def unit_key(*parts: object) -> float:
    """Like :func:`unit` for keys containing text (provider names)."""
    text = ":".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=7).digest()) / 2**56


class Weighted(Generic[T]):
    """Weighted choice with a precomputed cumulative table (random.choices recomputes it)."""

    __slots__ = ("items", "_cum", "_total")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self.items = list(items)
        self._cum = list(accumulate(weights))
        self._total = self._cum[-1]

    def pick(self, r: random.Random) -> T:
        return self.items[bisect.bisect(self._cum, r.random() * self._total)]
