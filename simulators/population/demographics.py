"""Who a synthetic Dutch person is: name, birth date, sex, address, GP practice, insurer.

Faker nl_NL supplies names and street names, but per seed and once (Faker's ``address()`` runs
at ~24,000 calls/s, too slow per patient); each patient then draws from those pools.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from simulators.population import bsn as bsn_codec
from simulators.population import draw
from simulators.population.tables import (
    AGE_BANDS,
    INSURERS,
    MAX_AGE,
    MUNICIPALITIES,
    POSTCODE_LETTERS_EXCLUDED,
)

if TYPE_CHECKING:
    from faker import Faker


@dataclass(frozen=True, slots=True)
class Patient:
    """Demographics of one population member: ``Population(1, 1000).patient(7).family``."""

    index: int
    bsn: str
    given: str
    initials: str
    family: str
    birth_date: date
    age: int
    sex: str  # "male" | "female"
    street: str
    house_number: str
    postcode: str
    city: str
    municipality: str
    phone: str
    gp: str | None  # MedMij name of the GP provider the person is registered with, if any
    gp_practice: str  # display name of that practice (a synthetic one when gp is None)
    insurer: str
    uzovi: str
    policy_number: str

    @property
    def name(self) -> str:
        return f"{self.given} {self.family}"


@dataclass(frozen=True, slots=True)
class Pools:
    """Name and street pools of one seed, drawn from Faker nl_NL once."""

    male: tuple[str, ...]
    female: tuple[str, ...]
    family: tuple[str, ...]
    streets: tuple[str, ...]
    practices: tuple[str, ...]


@lru_cache(maxsize=1)
def _faker() -> Faker:
    """One nl_NL Faker (creating one costs ~0.2 s); reseeded per pool."""
    from faker import Faker

    return Faker("nl_NL")


@lru_cache(maxsize=8)
def pools(seed: int) -> Pools:
    """Faker is slow per call and its names repeat anyway, so sample it once per seed."""
    fake = _faker()
    fake.seed_instance(seed)
    family = tuple(dict.fromkeys(fake.last_name() for _ in range(1500)))
    return Pools(
        male=tuple(dict.fromkeys(fake.first_name_male() for _ in range(800))),
        female=tuple(dict.fromkeys(fake.first_name_female() for _ in range(800))),
        family=family,
        streets=tuple(dict.fromkeys(fake.street_name() for _ in range(2500))),
        practices=tuple(f"Huisartsenpraktijk {name}" for name in family[:400]),
    )


_AGE = draw.Weighted(AGE_BANDS, [band[1] for band in AGE_BANDS])
_PLACE = draw.Weighted(MUNICIPALITIES, [m.weight for m in MUNICIPALITIES])
_INSURER = draw.Weighted(INSURERS, [i.share for i in INSURERS])
_LETTERS = [
    a + b
    for a in "ABCDEFGHJKLMNPRSTVWXZ"
    for b in "ABCDEFGHJKLMNPRSTVWXZ"
    if a + b not in POSTCODE_LETTERS_EXCLUDED
]


def age_and_sex(r: random.Random) -> tuple[int, str]:
    """Age in whole years and sex, following the CBS pyramid and its sex ratio per band."""
    low, _, male_share = _AGE.pick(r)
    width = 5 if low < 95 else MAX_AGE - 95 + 1
    age = low + int(r.random() * width)
    return age, "male" if r.random() < male_share else "female"


def make_patient(seed: int, index: int, as_of: date, gps: tuple[tuple[str, str], ...]) -> Patient:
    """Patient ``index`` of population ``seed``; ``gps`` holds (name, display) of GP providers."""
    r = draw.rng(seed, index, draw.DEMOGRAPHICS)
    pool = pools(seed)
    age, sex = age_and_sex(r)
    birth_date = as_of - timedelta(days=age * 365 + int(r.random() * 365) + age // 4 + 1)
    before_birthday = (as_of.month, as_of.day) < (birth_date.month, birth_date.day)
    age = as_of.year - birth_date.year - before_birthday
    names = pool.male if sex == "male" else pool.female
    given = names[int(r.random() * len(names))]
    family = pool.family[int(r.random() * len(pool.family))]
    place = _PLACE.pick(r)
    letters = _LETTERS[int(r.random() * len(_LETTERS))]
    postcode = f"{r.randint(place.pc_low, place.pc_high)}{letters}"
    house = str(1 + int(r.random() ** 2 * 180))
    if r.random() < 0.08:
        house += "ABC"[int(r.random() * 3)]
    insurer = _INSURER.pick(r)
    u_gp = r.random()  # always drawn, so the GP count never shifts other draws
    if gps:
        gp, practice = gps[int(u_gp * len(gps))]
    else:
        gp, practice = None, pool.practices[int(u_gp * len(pool.practices))]
    return Patient(
        index=index,
        bsn=bsn_codec.bsn_of(seed, index),
        given=given,
        initials=given[0] + ".",
        family=family,
        birth_date=birth_date,
        age=age,
        sex=sex,
        street=pool.streets[int(r.random() * len(pool.streets))],
        house_number=house,
        postcode=postcode,
        city=place.name,
        municipality=place.name,
        phone=f"06{r.randrange(10**8):08d}",
        gp=gp,
        gp_practice=practice,
        insurer=insurer.name,
        uzovi=insurer.uzovi,
        policy_number=f"{r.randrange(10**8, 10**9)}",
    )
