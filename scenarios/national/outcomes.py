"""Outcome measures the sources care about (issue 19, item 7), from one simulated year.

- **The IZA goal** (003:251-253): "all inhabitants who want one have a user-friendly, well-filled
  PGO in 2025". The sources do not define the words, so the definition is inferred and stated:
  *want one* = the market potential (register `market_potential`, 35-75% of citizens);
  *usable* = the PGO works for its user: they collected through it in the last 52 weeks and the
  collect was not cut off by a DVA time-out (1 - the load-weighted time-out share of the year's
  busiest hours); *well-filled* = at least `iza_fill_threshold` (inferred 75%, 50-100%) of the
  person's providers of the kinds whose standards a PGO must carry (hospital, GP, medication,
  GGZ: 002:67-68) serve their data through MedMij. The outcome is the share of those who want
  one that has such a PGO, and the gap in persons.
- **Data availability per plateau** (004:276-283): availability (reach-weighted share of a
  person's providers connected), the well-filled share and connection per provider kind at the
  end of each plateau (2026, 2030, 2035).
- **Segments** (the 80-year-old with diabetes, heart failure and Parkinson's, 004:223-225):
  users per age band and chronic / not chronic. The sources give no figures, so the year's
  users are *allocated* to the segments by inferred population shares and relative chances to
  be a user (register `age_shares`, `age_use`, `chronic_prevalence`, `chronic_use`); this says
  who the users likely are, not how a segment would react to a lever.
- **Benefit side**: the sources give two figures: about 75 hospital admissions a day from
  preventable medication incidents (004:61-62) and 40% of care providers' time on
  administration (004:37). Only the first can be tied to the model: admissions of people whose
  usable PGO holds their medication overview (exposed), and the inferred share a PGO avoids
  (`medication_benefit`, 0-15%). The administration share has no PGO effect in the sources and
  is reported as not quantified.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from scenarios.national.params import Config

AGE_BANDS = ("0-17", "18-44", "45-64", "65-79", "80+")
IZA_KINDS = ("hospital", "gp", "pharmacy", "ggz")  # the standards of 002:67-68 with providers
PLATEAUS = ((1, 2023, 2026), (2, 2027, 2030), (3, 2031, 2035))  # 004:277-283
MEDICATION_ADMISSIONS_PER_DAY = 75.0  # 004:61-62
ADMIN_TIME_SHARE = 0.40  # 004:37


def well_filled(config: Config, connected: np.ndarray, threshold: float | None = None) -> float:
    """Share of people with a provider of an IZA kind whose PGO would be well-filled.

    Each person has a provider of kind k with chance reach_k (kinds independent), which is
    connected with chance connected_k (the kind's share connected). Exact over the 3^4 cases.
    """
    theta = config.iza_fill_threshold if threshold is None else threshold
    kinds = [(s.reach, float(c)) for s, c in zip(config.sectors, connected, strict=True)
             if s.name in IZA_KINDS]
    filled = anyone = 0.0
    for states in itertools.product((0, 1, 2), repeat=len(kinds)):  # none, connected, not
        p, has, ok = 1.0, 0, 0
        for state, (reach, conn) in zip(states, kinds, strict=True):
            p *= (1 - reach, reach * conn, reach * (1 - conn))[state]
            has += state > 0
            ok += state == 1
        if has:
            anyone += p
            if ok >= theta * has - 1e-12:
                filled += p
    return filled / anyone if anyone > 0 else 0.0


def usable_share(dva: dict[str, dict[str, float]]) -> float:
    """1 - the time-out share of the year's busiest hours, weighted by each DVA's peak load."""
    load = sum(v["peak_rps"] for v in dva.values())
    if load <= 0:
        return 1.0
    return 1.0 - sum(v["peak_rps"] * v["timeout_share"] for v in dva.values()) / load


def iza(config: Config, population: int, year_users: int, accounts: int, well: float,
        usable: float) -> dict[str, float]:
    """The IZA goal for one year: share of those who want a PGO that have a usable, well-filled
    one (`share`), the same counting every account (`share_accounts`, an upper bound), and the
    gap in persons."""
    want = config.market_potential * population
    have = min(want, year_users * usable * well)
    return {"want": want, "usable_well_filled": have, "share": have / want if want else 0.0,
            "share_accounts": min(1.0, accounts * well / want) if want else 0.0,
            "gap": want - have}


def _allocate(total: float, sizes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`total` over cells in proportion to sizes x weights, never more than a cell's size."""
    out = np.zeros(len(sizes))
    free = np.ones(len(sizes), bool)
    left = float(total)
    for _ in range(len(sizes)):
        w = sizes * weights * free
        if left <= 0 or w.sum() <= 0:
            break
        share = left * w / w.sum()
        over = free & (share > sizes)
        if not over.any():
            out[free] = share[free]
            break
        out[over] = sizes[over]
        left -= float(sizes[over].sum())
        free &= ~over
    return out


def segments(config: Config, population: int, users: float) -> dict[str, Any]:
    """The year's users by age band and chronic condition (an allocation, see the module)."""
    ages = np.asarray(config.age_shares, float)
    ages = ages / ages.sum()
    chronic = np.asarray(config.chronic_prevalence, float)
    use = np.asarray(config.age_use, float)
    sizes = population * np.concatenate([ages * chronic, ages * (1 - chronic)])
    weights = np.concatenate([use * config.chronic_use, use])
    cells = _allocate(users, sizes, weights)
    n = len(AGE_BANDS)
    by_age = {band: {"population": float(sizes[i] + sizes[n + i]),
                     "users": float(cells[i] + cells[n + i]),
                     "coverage": float((cells[i] + cells[n + i]) / (sizes[i] + sizes[n + i]))}
              for i, band in enumerate(AGE_BANDS)}
    chronic_pop, other_pop = float(sizes[:n].sum()), float(sizes[n:].sum())
    return {"by_age": by_age,
            "chronic": {"population": chronic_pop, "users": float(cells[:n].sum()),
                        "coverage": float(cells[:n].sum() / chronic_pop) if chronic_pop else 0.0},
            "not_chronic": {"population": other_pop, "users": float(cells[n:].sum()),
                            "coverage": float(cells[n:].sum() / other_pop) if other_pop else 0.0}}


def benefit(config: Config, population: int, year_users: int, usable: float,
            pharmacy_connected: float) -> dict[str, Any]:
    """The benefit side where the sources give figures (004:61-62, 004:37)."""
    admissions = MEDICATION_ADMISSIONS_PER_DAY * 365
    holding = year_users * usable * pharmacy_connected  # usable PGO with the medication overview
    exposed = admissions * holding / population if population else 0.0
    return {"medication_admissions_per_year": admissions,
            "medication_admissions_exposed": exposed,
            "medication_admissions_avoided": exposed * config.medication_benefit,
            "admin_time_share": ADMIN_TIME_SHARE,
            "admin_time_effect": "not quantified: the sources give no PGO effect (004:37)"}


def year_outcomes(config: Config, connected: np.ndarray, dva: dict[str, dict[str, float]],
                  population: int, year_users: int, accounts: int) -> dict[str, Any]:
    """Every outcome measure of one year (`connected`: share per sector at the year's end)."""
    well = well_filled(config, connected)
    usable = usable_share(dva)
    names = [s.name for s in config.sectors]
    pharmacy = float(connected[names.index("pharmacy")]) if "pharmacy" in names else 0.0
    return {"connected_by_kind": {n: float(c) for n, c in zip(names, connected, strict=True)},
            "well_filled_share": well, "usable_share": usable,
            "iza": iza(config, population, year_users, accounts, well, usable),
            "segments": segments(config, population, year_users),
            "benefit": benefit(config, population, year_users, usable, pharmacy)}


def plateaus(years: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Data availability and the IZA goal at the end of each plateau (or the last year run)."""
    by_year = {y["year"]: y for y in years}
    out = []
    for number, first, last in PLATEAUS:
        seen = [y for y in range(first, last + 1) if y in by_year]
        if not seen:
            continue
        end = by_year[seen[-1]]
        out.append({"plateau": number, "years": f"{first}-{last}", "until": seen[-1],
                    "complete": seen[-1] == last,
                    "data_availability": end["data_availability"],
                    "well_filled_share": end["well_filled_share"],
                    "iza_share": end["iza"]["share"],
                    "connected_by_kind": end["connected_by_kind"]})
    return out
