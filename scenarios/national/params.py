"""Parameters of the national PGO model (issue 6; SPEC.md sections 6 and 7).

Everything a preset may change lives here as frozen, slotted dataclasses, so a preset is a
plain value and a variant is `dataclasses.replace(config, ...)`. Comments mark each default
(source: SPEC.md §7) or (inferred: our estimate); docs/national-model.md lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np


@dataclass(frozen=True, slots=True)
class Sector:
    """A kind of zorgaanbieder: how many, how connected to MedMij over time, what a collect costs.

    >>> Sector("gp", 4900, ((2025, 0.92),), reach=0.75, searches=9).connected(2025.5)
    0.92
    """

    name: str
    providers: int
    connection: tuple[tuple[float, float], ...]  # (year, share connected), linear in between
    reach: float  # share of persons with a care relationship here (collects per session)
    searches: int  # FHIR searches per collect at one provider (its gegevensdiensten)
    gegevensdiensten: tuple[str, ...] = ()

    def connected(self, year: float | np.ndarray) -> float | np.ndarray:
        """Share of this sector's providers reachable through MedMij at `year` (fractional)."""
        xs = [p[0] for p in self.connection]
        ys = [p[1] for p in self.connection]
        result = np.interp(year, xs, ys)
        return float(result) if np.ndim(result) == 0 else result


@dataclass(frozen=True, slots=True)
class DvaSpec:
    """A DVA and its market share per sector (which providers' data it serves)."""

    name: str
    shares: tuple[tuple[str, float], ...]  # (sector name, share of that sector's providers)


@dataclass(frozen=True, slots=True)
class DvpSpec:
    """A DVP (PGO vendor) or a public PGO. `attractiveness` weighs the choice of new users.

    kind: "vendor" (funded per active user), "public" (MGO inspection function: live collect,
    stores nothing) or "central" (one centrally built PGO, MedElkaar option 3).
    """

    name: str
    attractiveness: float
    kind: str = "vendor"
    entry: date | None = None  # None: on the OCL when the run starts


@dataclass(frozen=True, slots=True)
class Bankruptcy:
    """A vendor leaves the OCL and Whitelist on `when`; users migrate or drop out (SPEC §6)."""

    vendor: str
    when: date
    migrate_share: float = 0.6  # (inferred) share that takes a portability report elsewhere


@dataclass(frozen=True, slots=True)
class ServiceTime:
    """A lognormal service time, given by its median and 95th percentile in milliseconds."""

    median_ms: float
    p95_ms: float

    @property
    def sigma(self) -> float:
        ratio = max(self.p95_ms / self.median_ms, 1.01)
        return float(np.log(ratio) / 1.6449)

    @property
    def mean_s(self) -> float:
        return float(self.median_ms / 1000.0 * np.exp(self.sigma**2 / 2))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw `n` service times in seconds."""
        return rng.lognormal(np.log(self.median_ms / 1000.0), self.sigma, n)


@dataclass(frozen=True, slots=True)
class ServiceTimes:
    """What one request costs a DVA worker, per kind of request."""

    search: ServiceTime = ServiceTime(60.0, 250.0)  # (inferred) FHIR search on a real EHR
    token: ServiceTime = ServiceTime(15.0, 60.0)  # (inferred) token endpoint
    flow: ServiceTime = ServiceTime(30.0, 120.0)  # (inferred) authorize/login/consent page
    source: str = "default (inferred)"


@dataclass(frozen=True, slots=True)
class Financing:
    """The government's money lines (source: SPEC §7 unless marked inferred)."""

    per_active_user_eur: float = 7.50  # open-house scheme, per active vendor user per year
    per_active_user_until: int | None = None  # last year the scheme pays (None: every year)
    admission_lump_eur: float = 30_000.0  # per newly admitted vendor (2021 figure)
    contracted_eur: tuple[tuple[int, float], ...] = ((2025, 5e6), (2026, 5e6), (2027, 5e6))
    inspection_eur_per_year: float = 15e6  # (inferred) running MGO
    shared_build_eur: tuple[tuple[int, float], ...] = ((2026, 10e6), (2027, 10e6))  # (inferred)
    shared_run_eur_per_year: float = 6e6  # (inferred) from the year after the build
    central_build_eur: tuple[tuple[int, float], ...] = ((2026, 30e6), (2027, 30e6))  # (inferred)
    central_run_eur_per_year: float = 20e6  # (inferred)
    central_per_user_eur: float = 1.0  # (inferred) hosting per account per year


WEEKDAYS = (1.30, 1.10, 1.05, 1.00, 0.95, 0.75, 0.85)  # (inferred) Monday peak, Mon..Sun


@dataclass(frozen=True, slots=True)
class Config:
    """One what-if: the whole national system. Presets in presets.py fill it in."""

    sectors: tuple[Sector, ...]
    dvas: tuple[DvaSpec, ...]
    dvps: tuple[DvpSpec, ...]
    start_year: int = 2023
    years: int = 3
    # population (inferred, CBS order of magnitude; SPEC: "about 18 million")
    population: int = 17_900_000
    births_per_year: float = 165_000
    death_rate: float = 0.0095
    net_migration_per_year: float = 120_000
    # adoption: Bass diffusion on a market potential (inferred, tuned to SPEC §7 bands)
    initial_users: int = 900_000
    market_potential: float = 0.53  # share of the population that would ever use a PGO
    bass_p: float = 0.02
    bass_q: float = 0.25
    return_rate: float = 0.10  # per year, former users who take up a PGO again
    dormant_churn: float = 0.5  # per year, accounts unused for a year that are closed
    # collect behaviour: sessions per user per day by weeks since last collect (inferred)
    session_engaged: float = 0.05  # collected in the last 4 weeks
    session_dormant: float = 0.012  # 4 weeks to 6 months
    session_lapsed: float = 0.004  # 6 months or more
    session_factor: float = 1.0  # scenario multiplier (use in the care process)
    plateau_factors: tuple[tuple[int, float], ...] = ((2023, 1.0),)  # use per plateau
    weekdays: tuple[float, ...] = WEEKDAYS
    peak_hour_share: float = 0.11  # (inferred) busiest hour's share of a day's requests
    # consent (SPEC §3 step 7): long-lived consent lapses after 6 months without collecting
    long_lived_share: float = 0.75  # (inferred) users ticking the long-lived opt-in
    consent_lapse_weeks: int = 26
    flow_requests: int = 3  # authorize, DigiD login, consent screen at the DVA
    opt_out_from: date | None = None  # EHDS: consent becomes opt-out
    opt_out_potential: float = 1.25  # (inferred)
    opt_out_p: float = 2.0  # (inferred)
    # public inspection function (MGO) and MedElkaar options
    inspection_from: date | None = None
    inspection_share: float = 0.30  # (inferred) share of new users choosing MGO
    inspection_session_factor: float = 2.0  # (inferred) it stores nothing: each view collects
    inspection_potential: float = 1.10  # (inferred)
    inspection_p: float = 1.5  # (inferred)
    option: str = "carry-on"  # carry-on | shared | central
    central_from: date | None = None
    central_share: float = 0.85  # (inferred) of new users once it runs
    central_migration: float = 0.30  # (inferred) per year, vendor users moving to it
    vendor_min_users: int = 5_000  # (inferred) below this a vendor leaves the market
    # vendors
    bankruptcies: tuple[Bankruptcy, ...] = ()
    vendor_failure_rate: float = 0.0  # per year, for vendors under 2% of accounts
    vendor_entries: tuple[date, ...] = ()
    migration_window_days: int = 90  # (inferred) curator period for portability
    migration_daily: float = 0.05  # (inferred) daily chance a stranded user picks a new PGO
    list_refresh_s: float = 900.0  # (source: SPEC §2) every node refreshes within 15 minutes
    # DVA capacity
    service: ServiceTimes = field(default_factory=ServiceTimes)
    design_users: float = 2_500_000  # (inferred) DVAs provisioned for this many users
    design_utilisation: float = 0.5  # (inferred) target peak utilisation at design load
    capacity_growth: float = 0.10  # (inferred) per year
    capacity_factor: float = 1.0
    window_requests: int = 1000  # requests per simulated peak window (accuracy vs speed)
    probes_per_year: int = 4  # peak windows per DVA per year
    financing: Financing = field(default_factory=Financing)

    def __post_init__(self) -> None:
        if self.years < 1:
            raise ValueError("years must be at least 1")
        if self.option not in ("carry-on", "shared", "central"):
            raise ValueError(f"unknown MedElkaar option {self.option!r}")
        if self.probes_per_year not in (1, 2, 4, 12):
            raise ValueError("probes_per_year must be 1, 2, 4 or 12")
        if self.capacity_factor <= 0:
            raise ValueError("capacity_factor must be positive")
