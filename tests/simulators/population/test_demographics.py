"""Demographics: deterministic, Dutch, and distributed like the CBS pyramid."""

from __future__ import annotations

import statistics

import pytest

from simulators.population import Population, ProviderRef
from simulators.population.tables import AGE_BANDS, INSURERS, MUNICIPALITIES

GP = ProviderRef("hapraktijk@medmij", "gp", "Huisartsenpraktijk Test")
SAMPLE = 20_000


@pytest.fixture(scope="module")
def people() -> list:
    pop = Population(seed=11, size=18_000_000, providers=[GP])
    return [pop.patient(i) for i in range(0, SAMPLE * 900, 900)]


def test_same_seed_same_person_other_seed_other_person() -> None:
    a, b = Population(5, 1000, [GP]), Population(5, 1000, [GP])
    assert a.patient(123) == b.patient(123)
    assert Population(6, 1000, [GP]).patient(123) != a.patient(123)


def test_age_distribution_follows_the_pyramid(people: list) -> None:
    total = sum(band[1] for band in AGE_BANDS)
    expected_mean = sum((low + 2.5) * n for low, n, _ in AGE_BANDS) / total
    expected_65 = sum(n for low, n, _ in AGE_BANDS if low >= 65) / total
    expected_18 = sum(n for low, n, _ in AGE_BANDS if low < 15) / total + 0.6 * 1070 / total
    ages = [p.age for p in people]
    assert abs(statistics.mean(ages) - expected_mean) < 1.0  # tolerance: 1 year
    assert abs(sum(a >= 65 for a in ages) / len(ages) - expected_65) < 0.015
    assert abs(sum(a < 18 for a in ages) / len(ages) - expected_18) < 0.015
    assert max(ages) <= 105


def test_sex_ratio_overall_and_among_the_oldest(people: list) -> None:
    male = sum(p.sex == "male" for p in people) / len(people)
    assert abs(male - 0.497) < 0.015
    old = [p for p in people if p.age >= 85]
    assert sum(p.sex == "male" for p in old) / len(old) < 0.45


def test_everyone_has_gp_insurer_and_a_dutch_address(people: list) -> None:
    uzovi = {i.uzovi for i in INSURERS}
    towns = {m.name: m for m in MUNICIPALITIES}
    for p in people[:2000]:
        assert p.gp == GP.name and p.gp_practice == GP.display
        assert p.uzovi in uzovi
        town = towns[p.city]
        assert town.pc_low <= int(p.postcode[:4]) <= town.pc_high and p.postcode[4:].isalpha()
        assert p.given and p.family and p.phone.startswith("06")
    zk = sum(p.uzovi == "3311" for p in people) / len(people)
    assert 0.24 < zk < 0.34


def test_without_gp_providers_there_is_still_a_practice() -> None:
    p = Population(1, 100).patient(5)
    assert p.gp is None and p.gp_practice.startswith("Huisartsenpraktijk")
