"""Parameters of the national PGO model (issues 6 and 19).

Everything a preset may change lives here as frozen, slotted dataclasses, so a preset is a
plain value and a variant is `dataclasses.replace(config, ...)`. The defaults here are only
placeholders: `presets.base_config` fills every number from the assumptions register
(assumptions.py), which carries its source (`../shared/policy/<file>:<line>`) or marks it
inferred with a range and a reason. `pgo-sandbox simulate --assumptions` prints that table.
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

    kind: "vendor" (a PGO vendor) or "central" (one centrally built PGO, MedElkaar option 3).
    Mijn Gezondheidsoverzicht is not a DVP here: it is a public service (model.Inspection).
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
    migrate_share: float = 0.6  # share that takes a portability report elsewhere
    window_days: int = 90  # the curator's window for portability before data are deleted


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

    search: ServiceTime = ServiceTime(60.0, 250.0)  # FHIR search on a real EHR
    token: ServiceTime = ServiceTime(15.0, 60.0)  # token endpoint
    flow: ServiceTime = ServiceTime(30.0, 120.0)  # authorize/login/consent page
    source: str = "default (inferred)"


@dataclass(frozen=True, slots=True)
class Financing:
    """The government's money lines as the sources describe them (assumptions.py cites each).

    The per-user scheme ("Open House", 2020-2024) pays vendors in the scheme for every user
    who collected or shared at least once in the year; the lump sum is paid in 2021 only, to
    vendors admitted to the scheme (never to MGO or a central PGO); the tender pays three
    contract slots 2025-2027. Every line has a switch so a what-if can turn it off or on.
    """

    per_user_eur: float = 7.50
    per_user_from: int = 2020
    per_user_until: int = 2024
    scheme_vendors: int = 19  # vendors that can be paid by the scheme (the largest ones)
    lump_sum_eur: float = 30_000.0
    lump_sum_year: int = 2021
    tender_total_eur: float = 15e6
    tender_from: int = 2025
    tender_until: int = 2027
    tender_slots: tuple[str, ...] = ("pgo-01", "pgo-02", "pgo-03")  # named contract slots
    impulse_eur: float = 4.0e6  # historic: 2018, before the simulated years
    impulse_year: int = 2018
    inspection_eur_per_year: float = 15e6
    shared_build_eur_per_year: float = 10e6
    shared_build_years: tuple[int, ...] = (2026, 2027)
    shared_run_eur_per_year: float = 6e6
    central_build_eur_per_year: float = 30e6
    central_build_years: tuple[int, ...] = (2026, 2027)
    central_run_eur_per_year: float = 20e6
    central_per_user_eur: float = 1.0
    # switches
    per_user_scheme: bool = True
    lump_sum: bool = True
    tender: bool = True


WEEKDAYS = (1.30, 1.10, 1.05, 1.00, 0.95, 0.75, 0.85)  # Monday peak, Mon..Sun


@dataclass(frozen=True, slots=True)
class Config:
    """One what-if: the whole national system. presets.base_config fills it from the register."""

    sectors: tuple[Sector, ...]
    dvas: tuple[DvaSpec, ...]
    dvps: tuple[DvpSpec, ...]
    start_year: int = 2020
    years: int = 13
    population: int = 17_400_000
    births_per_year: float = 170_000
    death_rate: float = 0.0088
    net_migration_per_year: float = 100_000
    # adoption: Bass diffusion on a market potential, scaled by data availability
    initial_users: int = 60_000
    market_potential: float = 0.53  # share of the population that would ever use a PGO
    bass_p: float = 0.01
    bass_q: float = 0.25
    availability_elasticity: float = 1.0  # adoption and use ~ (availability / 2025) ** this
    connection_speed: float = 1.0  # lever: after April 2025 connection gaps close this fast
    return_rate: float = 0.10  # per year, former users who take up a PGO again
    dormant_churn: float = 0.5  # per year, accounts unused for a year that are closed
    # collect behaviour: sessions per user per day by weeks since last collect
    session_engaged: float = 0.05  # collected in the last 4 weeks
    session_dormant: float = 0.012  # 4 weeks to 6 months
    session_lapsed: float = 0.004  # 6 months or more
    session_factor: float = 1.0  # scenario lever from `lever_from` (use in the care process)
    lever_from: date = date(2025, 4, 8)  # scenario levers act after the observed history
    lever_p: float = 1.0  # scenario lever: multiplies innovation from `lever_from`
    lever_q: float = 1.0  # scenario lever: multiplies imitation from `lever_from`
    plateau_factors: tuple[tuple[int, float], ...] = ((2020, 1.0),)  # use per plateau
    weekdays: tuple[float, ...] = WEEKDAYS
    peak_hour_share: float = 0.11  # busiest hour's share of a day's requests
    # consent (SPEC §3 step 7): long-lived consent lapses after 6 months without collecting
    long_lived_share: float = 0.75
    consent_lapse_weeks: int = 26
    flow_requests: int = 3  # authorize, DigiD login, consent screen at the DVA
    # EHDS: consent becomes opt-out on a date; a share of citizens objects
    opt_out: bool = False
    opt_out_from: date = date(2030, 1, 1)
    objection_rate: float = 0.10
    opt_out_potential: float = 1.25
    opt_out_p: float = 2.0
    # Mijn Gezondheidsoverzicht: a public service next to the PGOs, not a PGO
    inspection: bool = False
    inspection_from: date = date(2028, 1, 1)
    inspection_potential: float = 0.40  # share of the population that would ever use it
    inspection_p: float = 0.02
    inspection_q: float = 0.30
    inspection_session_rate: float = 0.01  # views per MGO user per day; each collects live
    inspection_pgo_effect: float = 1.0  # multiplies PGO innovation once MGO runs
    # MedElkaar options
    option: str = "carry-on"  # carry-on | shared | central
    shared_effect: float = 1.0  # shared components: multiplies PGO innovation after the build
    central_from: date = date(2027, 1, 1)
    central_share: float = 0.85  # of new users once it runs
    central_migration: float = 0.30  # per year, vendor users moving to it
    vendor_min_users: int = 5_000  # below this a vendor leaves a central-PGO market
    # vendors
    bankruptcies: tuple[Bankruptcy, ...] = ()
    vendor_failure_rate: float = 0.0  # per year, uncontracted vendors once the scheme ends
    failure_migrate_share: float = 0.6
    failure_window_days: int = 90
    vendor_entries: tuple[date, ...] = ()
    migration_daily: float = 0.05  # daily chance a stranded user picks a new PGO
    list_refresh_s: float = 900.0  # (SPEC §2) every node refreshes within 15 minutes
    # DVA capacity: sized from the load the DVA saw (requests per provider kind x service times)
    service: ServiceTimes = field(default_factory=ServiceTimes)
    client_timeout_s: float = 60.0  # (SPEC §3 step 8) the client gives up after this
    design_utilisation: float = 0.5  # target utilisation in the busiest hour of the last year
    capacity_growth: float = 0.10  # headroom for a year's growth when a DVA is sized
    capacity_factor: float = 1.0
    window_requests: int = 1000  # requests per simulated peak window (accuracy vs speed)
    probes_per_year: int = 4  # peak windows per DVA per year
    financing: Financing = field(default_factory=Financing)
    # outcomes (issue 19 item 7): IZA goal, segments (outcomes.AGE_BANDS), benefit side
    iza_fill_threshold: float = 0.75  # share of a person's providers whose data a PGO holds
    age_shares: tuple[float, ...] = (0.20, 0.34, 0.27, 0.14, 0.05)  # population per band
    age_use: tuple[float, ...] = (0.3, 1.0, 1.2, 1.0, 0.5)  # relative chance to be a user
    chronic_prevalence: tuple[float, ...] = (0.15, 0.35, 0.60, 0.80, 0.90)  # per band
    chronic_use: float = 2.0  # a chronic patient's chance to be a user, relative
    medication_benefit: float = 0.05  # share of exposed medication admissions avoided

    def __post_init__(self) -> None:
        if self.years < 1:
            raise ValueError("years must be at least 1")
        if self.option not in ("carry-on", "shared", "central"):
            raise ValueError(f"unknown MedElkaar option {self.option!r}")
        if self.probes_per_year not in (1, 2, 4, 12):
            raise ValueError("probes_per_year must be 1, 2, 4 or 12")
        if self.capacity_factor <= 0:
            raise ValueError("capacity_factor must be positive")
        if not 0.0 <= self.objection_rate <= 1.0:
            raise ValueError("objection_rate must be between 0 and 1")
