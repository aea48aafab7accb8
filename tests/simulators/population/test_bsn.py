"""BSNs: unique and 11-proof over a million people, and invertible without a table."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.population import Population
from simulators.population import bsn as codec


def _elfproef(values: np.ndarray) -> np.ndarray:
    digits = [(values // 10**k) % 10 for k in range(8, -1, -1)]
    total = sum((9 - k) * digits[k] for k in range(8)) - digits[8]
    return total % 11 == 0


def test_million_bsns_are_unique_nine_digit_and_pass_the_elfproef() -> None:
    values = codec.bulk(seed=1, start=0, stop=1_000_000)
    assert len(np.unique(values)) == 1_000_000
    assert values.min() >= 100_000_000 and values.max() <= 999_999_999
    assert _elfproef(values).all()


def test_bulk_matches_scalar_and_round_trips() -> None:
    values = codec.bulk(seed=7, start=17_999_000, stop=18_000_000)
    for offset in range(0, 1000, 37):
        index = 17_999_000 + offset
        bsn = codec.bsn_of(7, index)
        assert str(values[offset]) == bsn
        assert codec.is_valid(bsn)
        assert codec.index_of(7, bsn, 18_000_000) == index


def test_index_of_rejects_what_is_not_ours() -> None:
    pop = Population(seed=3, size=1000)
    assert pop.index_of(pop.patient(999).bsn) == 999
    outsiders = [codec.bsn_of(3, i) for i in range(1000, 1010)]
    assert all(pop.index_of(b) is None for b in outsiders)
    for junk in ("", "12345678", "abcdefghi", "123456789", "000000000"):
        assert pop.index_of(junk) is None


def test_different_seeds_give_different_bsns() -> None:
    assert codec.bsn_of(1, 0) != codec.bsn_of(2, 0)


def test_population_larger_than_the_bsn_space_is_refused() -> None:
    with pytest.raises(ValueError):
        Population(seed=1, size=codec.DOMAIN + 1)
