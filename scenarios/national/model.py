"""The national PGO system as a SimPy model over years (issue 6).

Simulated time is in days (day 0 = 1 January of `start_year`). Processes, each a generator:

- `daily_cycle`: one step of the cohort population per day (adoption, collects, consent
  lapsing, churn, births and deaths, migration) and the requests it sends to each DVA;
- `peak_probe`: at the end of every period, the busiest hour of each DVA run through a SimPy
  queue (queueing.py) for peak load and latency percentiles;
- `vendor_event`: a bankruptcy on its date; the registry drops the vendor from OCL and
  Whitelist and each DVA cuts it off at its next list refresh (`list_refresh`);
- `market_watch`: monthly random bankruptcies of small vendors and, with one central PGO,
  vendors leaving once too few users remain;
- `year_end`: outcomes, government cost and integration count per year.

Policy switches (MGO launch, EHDS opt-out, central PGO, new vendors) are dates the daily
cycle reads. Events of other processes sit at half days, so they never tie with a day step.

Issue 19: adoption and use scale with data availability (providers connected, weighted by how
many people have data there), so connecting providers is a lever on users, not only on load.
Mijn Gezondheidsoverzicht is a public service next to the PGOs (`World.inspection_step`), with
its own users and its own live-collect load, reported separately.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import simpy

from scenarios.national import accounting, market, outcomes
from scenarios.national.cohorts import ACTIVE_WEEKS, BUCKETS, YEAR_WEEKS, Cohorts, DayInput
from scenarios.national.params import Bankruptcy, Config, DvpSpec
from scenarios.national.queueing import CountingEnvironment, PeakLoad, PeakStats, simulate_peak

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class Result:
    """Everything a run produced; report.py turns it into JSON, tables and plots."""

    config: Config
    seed: int
    dvas: list[str]
    dvps: list[str]
    years: list[dict[str, Any]]
    probes: list[dict[str, Any]]
    series: dict[str, list[Any]]
    events: list[dict[str, Any]]
    ledger: dict[str, object]
    final: dict[str, int]
    performance: dict[str, float] = field(default_factory=dict)


class World:
    """State shared by the processes of one run."""

    def __init__(self, config: Config, seed: int) -> None:
        self.config, self.seed = config, seed
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
        self.start = date(config.start_year, 1, 1)
        self.days = (date(config.start_year + config.years, 1, 1) - self.start).days
        self.dvps = self._dvp_list()
        self.kinds = np.array([d.kind for d in self.dvps])
        n = len(self.dvps)
        self.entry_day = np.array([self.day_of(d.entry) if d.entry else 0 for d in self.dvps])
        self.closed = np.zeros(n, bool)
        self.closed_day = np.full(n, 10**9)
        self.attract = np.array([d.attractiveness for d in self.dvps])
        order = np.argsort(-self.attract * (self.kinds == "vendor")
                           * np.array([d.entry is None for d in self.dvps]), kind="stable")
        self.scheme = np.zeros(n, bool)  # vendors the per-user scheme pays (the largest)
        self.scheme[order[:config.financing.scheme_vendors]] = True
        self.scheme &= self.kinds == "vendor"
        self.population = self._initial_population()
        years = config.start_year + (np.arange(self.days) + 0.5) / 365.25
        connected = market.connection_table(config, years)
        self.connected = connected
        self.collects, self.searches = market.per_session(config, connected)  # days x DVAs
        self.availability = market.availability(config, connected)
        ref = market.availability(config, market.connection_table(
            config, np.array([market.APRIL_2025])))[0]
        self.avail_factor = (self.availability / ref) ** config.availability_elasticity
        self.mgo_users = 0
        self.mgo_rng = np.random.default_rng(np.random.SeedSequence([seed, 4]))
        self.drills: list[dict[str, Any]] = []
        self.workers = np.ones(len(config.dvas), int)  # sized at each probe (peak_probe)
        n_dva = len(config.dvas)
        self.load = np.zeros((self.days, n_dva, 3))  # search, token, flow requests per day
        self.daily = {k: np.zeros(self.days) for k in (
            "users", "active", "consent_live", "sessions", "collections", "flows",
            "consents_lapsed", "adopted", "localisation", "mgo_users", "mgo_sessions")}
        self.users_by_dvp = np.zeros((self.days, n), np.int64)
        self.probes: list[dict[str, Any]] = []
        self.peak_stats: dict[int, list[PeakStats]] = {}
        self.events: list[dict[str, Any]] = []
        self.years: list[dict[str, Any]] = []
        self.micro_events = 0
        self._rates: dict[int, np.ndarray] = {}

    # -- set-up ---------------------------------------------------------------------------
    def _dvp_list(self) -> list[DvpSpec]:
        cfg = self.config
        dvps = list(cfg.dvps)
        if cfg.option == "central":
            dvps.append(DvpSpec("pgo-centraal", 0.0, "central", cfg.central_from))
        median = float(np.median([d.attractiveness for d in cfg.dvps]))
        for k, when in enumerate(cfg.vendor_entries, start=1):
            dvps.append(DvpSpec(f"pgo-new-{k:02d}", median, "vendor", when))
        return dvps

    def _initial_population(self) -> Cohorts:
        cfg = self.config
        present = np.array([d.entry is None and d.kind == "vendor" for d in self.dvps])
        weights = self.attract * present
        users = self.rng.multinomial(cfg.initial_users, weights / weights.sum())
        recency = np.zeros(BUCKETS)
        lapse = cfg.consent_lapse_weeks
        recency[:ACTIVE_WEEKS] = 0.40 / ACTIVE_WEEKS  # (inferred) last collects on 1 January
        recency[ACTIVE_WEEKS:lapse] = 0.35 / (lapse - ACTIVE_WEEKS)
        recency[lapse:] = 0.25 / (BUCKETS - lapse)
        return Cohorts(cfg.population, users, recency / recency.sum(), self.rng)

    # -- calendar -------------------------------------------------------------------------
    def day_of(self, when: date) -> int:
        return (when - self.start).days

    def date_of(self, day: float) -> date:
        return self.start + timedelta(days=int(day))

    def live(self, day: int) -> np.ndarray:
        return (self.entry_day <= day) & ~self.closed

    def index(self, name: str) -> int:
        for i, d in enumerate(self.dvps):
            if d.name == name:
                return i
        raise ValueError(f"unknown DVP {name!r}")

    # -- policy for one day ---------------------------------------------------------------
    def day_input(self, day: int) -> tuple[DayInput, bool]:
        cfg = self.config
        today = self.date_of(day)
        live = self.live(day)
        plateau = dict(cfg.plateau_factors)
        factor = max((f for y, f in plateau.items() if y <= today.year), default=1.0)
        opt_out = cfg.opt_out and today >= cfg.opt_out_from
        lever = today >= cfg.lever_from
        central = live & (self.kinds == "central")
        vendors = live & (self.kinds == "vendor")
        choice = np.zeros(len(self.dvps))
        if vendors.any():
            choice[vendors] = self.attract[vendors] / self.attract[vendors].sum()
            choice *= max(0.0, 1.0 - cfg.central_share * central.any())
        choice[central] = cfg.central_share
        use = factor * float(self.avail_factor[day])
        p = cfg.bass_p * use * (cfg.lever_p if lever else 1.0)
        q = cfg.bass_q * use * (cfg.lever_q if lever else 1.0)
        potential = cfg.market_potential * self.population.total()
        if self.inspection_live(today):
            p *= cfg.inspection_pgo_effect
        if cfg.option == "shared" and today.year > max(cfg.financing.shared_build_years):
            p *= cfg.shared_effect
        if opt_out:
            consenting = 1.0 - cfg.objection_rate
            p *= 1 + (cfg.opt_out_p - 1) * consenting
            potential *= 1 + (cfg.opt_out_potential - 1) * consenting
        accounts = int(self.population.recency.sum())
        hazard = (p + q * min(1.0, accounts / potential)) / 365
        rate = self._session_rate(today.weekday(), use * (cfg.session_factor if lever else 1.0))
        central_index = int(np.argmax(central)) if central.any() else -1
        day_input = DayInput(
            session_rate=rate, choice=choice, adoption_hazard=hazard, potential=potential,
            return_hazard=cfg.return_rate / 365, churn_hazard=cfg.dormant_churn / 365,
            death_hazard=cfg.death_rate * 7 / 365, births=cfg.births_per_year / 365,
            immigration=cfg.net_migration_per_year / 365,
            lapse_week=cfg.consent_lapse_weeks, week_end=today.weekday() == 6,
            central=central_index, central_hazard=cfg.central_migration / 365,
            central_sources=vendors, migration_hazard=cfg.migration_daily)
        return day_input, opt_out

    def inspection_live(self, today: date) -> bool:
        return self.config.inspection and today >= self.config.inspection_from

    def _session_rate(self, weekday: int, factor: float) -> np.ndarray:
        """DVP x bucket chance of a collect session today (base rates cached per weekday)."""
        if weekday not in self._rates:
            cfg = self.config
            base = np.empty(BUCKETS)
            lapse = cfg.consent_lapse_weeks
            base[:ACTIVE_WEEKS], base[ACTIVE_WEEKS:lapse], base[lapse:] = (
                cfg.session_engaged, cfg.session_dormant, cfg.session_lapsed)
            week = cfg.weekdays[weekday] / (sum(cfg.weekdays) / 7)
            self._rates[weekday] = np.broadcast_to(base * week, (len(self.dvps), BUCKETS))
        return np.minimum(1.0, self._rates[weekday] * factor)

    def inspection_step(self, day: int, today: date) -> int:
        """Mijn Gezondheidsoverzicht for one day: Bass take-up, deaths, views (live collects)."""
        cfg = self.config
        if not self.inspection_live(today):
            return 0
        rng = self.mgo_rng
        potential = cfg.inspection_potential * self.population.total()
        share = min(1.0, self.mgo_users / potential) if potential > 0 else 1.0
        hazard = min(1.0, (cfg.inspection_p + cfg.inspection_q * share) / 365)
        self.mgo_users += int(rng.binomial(max(0, int(potential) - self.mgo_users), hazard))
        self.mgo_users -= int(rng.binomial(self.mgo_users, cfg.death_rate / 365))
        week = cfg.weekdays[today.weekday()] / (sum(cfg.weekdays) / 7)
        rate = min(1.0, cfg.inspection_session_rate * week * float(self.avail_factor[day]))
        return int(rng.binomial(self.mgo_users, rate))

    def step(self, day: int) -> None:
        """One simulated day: cohort flows, MGO views, then the requests they send to DVAs."""
        cfg = self.config
        day_input, opt_out = self.day_input(day)
        out = self.population.step(day_input)
        mgo_sessions = self.inspection_step(day, self.date_of(day))
        sessions = out.sessions + out.first_sessions
        repeat = out.sessions - out.lapsed_sessions
        renewals = out.lapsed_sessions + (1 - cfg.long_lived_share) * repeat
        if opt_out:  # only objectors still see consent screens
            renewals = renewals * cfg.objection_rate
        flows = out.first_sessions + renewals
        # MGO stores nothing: every view collects live and logs in with DigiD (inferred)
        total = float(sessions.sum()) + mgo_sessions
        flow_total = float(flows.sum()) + mgo_sessions
        self.load[day, :, 0] = total * self.searches[day]
        self.load[day, :, 1] = total * self.collects[day]
        self.load[day, :, 2] = flow_total * self.collects[day] * cfg.flow_requests
        pop = self.population
        d = self.daily
        d["users"][day] = pop.recency.sum()
        d["active"][day] = pop.active(ACTIVE_WEEKS)
        d["consent_live"][day] = pop.active(cfg.consent_lapse_weeks) if not opt_out else (
            d["users"][day] - cfg.objection_rate * (d["users"][day]
                                                    - pop.active(cfg.consent_lapse_weeks)))
        d["sessions"][day] = total
        d["collections"][day] = total * self.collects[day].sum()
        d["flows"][day] = flow_total
        lapsed = out.consents_lapsed * (cfg.objection_rate if opt_out else 1.0)
        d["consents_lapsed"][day] = lapsed
        d["adopted"][day] = out.adopted
        d["localisation"][day] = mgo_sessions
        d["mgo_users"][day] = self.mgo_users
        d["mgo_sessions"][day] = mgo_sessions
        self.users_by_dvp[day] = pop.users()

    # -- vendors leaving --------------------------------------------------------------------
    def vendor_exit(self, env: simpy.Environment, index: int, migrate_share: float,
                    reason: str, window_days: int) -> None:
        """A vendor leaves: users migrate or drop out; DVAs cut it off at their next refresh.

        The record is the drill's answer: who loses access and for how long, what must be
        collected again and how many consents DVAs see again (the portability report is a
        document, 001:206-208; structured data are collected anew from each provider).
        """
        day = min(self.days - 1, math.ceil(env.now))
        users, migrants = self.population.exit_vendor(index, migrate_share, window_days)
        self.closed[index] = True
        self.closed_day[index] = day
        h = self.config.migration_daily
        found = 1 - (1 - h) ** window_days  # chance a migrant finds a PGO within the window
        mean_days = (found / h) if h > 0 else float(window_days)  # E[min(T, window)]
        per_session = float(self.collects[day].sum())
        placed = migrants * found
        record: dict[str, Any] = {
            "kind": reason, "vendor": self.dvps[index].name,
            "date": self.date_of(day).isoformat(), "users": users,
            "migrating": migrants, "dropped": users - migrants, "window_days": window_days,
            "lose_access_for_good": int(round(users - placed)),
            "mean_days_without_access_migrants": round(mean_days, 1),
            "provider_collects_to_redo": int(round(placed * per_session)),
            "reconsents_at_dvas": int(round(placed * per_session)),
            "contracted": self.dvps[index].name in self.config.financing.tender_slots}
        self.events.append(record)
        env.process(list_refresh(env, self, record))

    def _share_of_year_live(self, i: int, first: int, last: int) -> float:
        """Share of the days first..last that DVP `i` was on the market (a slot paid pro rata)."""
        begin = max(first, int(self.entry_day[i]))
        end = min(last, int(self.closed_day[i]) - 1)
        return max(0, end - begin + 1) / (last - first + 1)

    def year_record(self, year: int, first: int, last: int, stats: list[list[PeakStats]],
                    entries: int) -> dict[str, Any]:
        cfg, pop = self.config, self.population
        year_users_by = pop.recency[:, :YEAR_WEEKS].sum(axis=1)  # collected in 52 weeks
        live = self.live(last)
        central = self.kinds == "central"
        lived = (self.entry_day <= last) & ~(self.closed & (self.closed_day < first))
        slots = cfg.financing.tender_slots
        facts = accounting.YearFacts(
            year=year, scheme_year_users=int(year_users_by[self.scheme].sum()),
            scheme_vendors_live=int((lived & self.scheme).sum()),
            contracted_live=sum(self._share_of_year_live(i, first, last)
                                for i, d in enumerate(self.dvps) if d.name in slots),
            central_accounts=int(pop.recency[central].sum()), live_dvas=len(cfg.dvas),
            live_dvps=int(live.sum()), entries=entries,
            inspection_live=self.inspection_live(self.date_of(last)),
            central_live=bool((live & central).any()))
        span = slice(first, last + 1)
        d = self.daily
        dva: dict[str, dict[str, float]] = {}
        for i, spec in enumerate(cfg.dvas):
            worst = max(stats[i], key=lambda s: (s.p95_ms, s.rps)) if stats[i] else None
            dva[spec.name] = {
                "peak_rps": max((s.rps for s in stats[i]), default=0.0),
                "workers": worst.workers if worst else int(self.workers[i]),
                "utilisation": max((s.utilisation for s in stats[i]), default=0.0),
                "p50_ms": worst.p50_ms if worst else 0.0,
                "p95_ms": worst.p95_ms if worst else 0.0,
                "p99_ms": worst.p99_ms if worst else 0.0,
                "timeout_share": max((s.timeout_share for s in stats[i]), default=0.0)}
        nodes = len(cfg.dvas) + facts.live_dvps
        population, year_users = pop.total(), int(year_users_by.sum())
        measured = outcomes.year_outcomes(cfg, self.connected[last], dva, population, year_users,
                                          int(pop.recency.sum()))
        return {
            "year": year,
            "population": pop.total(),
            "users": int(pop.recency.sum()),
            "mgo_users": int(self.mgo_users),
            "mgo_views_per_day": float(d["mgo_sessions"][span].mean()),
            "data_availability": float(self.availability[last]),
            "scheme_year_users": facts.scheme_year_users,
            "year_users": int(year_users_by.sum()),
            "active_users": int(pop.active(ACTIVE_WEEKS)),
            "consent_live": int(d["consent_live"][last]),
            "stranded": pop.stranded_count(),
            "former_users": pop.former,
            "users_by_dvp": {s.name: int(n) for i, (s, n) in enumerate(zip(
                self.dvps, pop.users(), strict=True)) if self.entry_day[i] <= last},
            "sessions_per_day": float(d["sessions"][span].mean()),
            "collections_per_day": float(d["collections"][span].mean()),
            "peak_collections_per_day": float(d["collections"][span].max()),
            "flows_per_day": float(d["flows"][span].mean()),
            "consents_lapsed": int(d["consents_lapsed"][span].sum()),
            "adopted": int(d["adopted"][span].sum()),
            "registry_list_requests_per_day": nodes * 4 * 86400 / cfg.list_refresh_s,
            "live_collect_views_per_day": float(d["localisation"][span].mean()),
            "dva": dva,
            "peak_rps_max": max(v["peak_rps"] for v in dva.values()),
            "p95_ms_max": max(v["p95_ms"] for v in dva.values()),
            "government_cost_eur": accounting.government_cost(cfg, facts),
            "integrations": accounting.integrations(cfg, facts.live_dvas, facts.live_dvps),
            "live_dvps": facts.live_dvps,
            **measured,
        }


# -- processes ---------------------------------------------------------------------------
def daily_cycle(env: simpy.Environment, world: World, progress: Progress | None) -> Iterator:
    for day in range(world.days):
        world.step(day)
        if progress and (day % 30 == 29 or day == world.days - 1):
            progress(day + 1, world.days)
        yield env.timeout(1)


def _period_ends(world: World) -> list[int]:
    months = 12 // world.config.probes_per_year
    ends = []
    for y in range(world.config.years):
        for k in range(world.config.probes_per_year):
            month = (k + 1) * months
            end = date(world.start.year + y + month // 12, month % 12 + 1, 1) if month < 12 \
                else date(world.start.year + y + 1, 1, 1)
            ends.append(world.day_of(end))
    return ends


def peak_probe(env: simpy.Environment, world: World) -> Iterator:
    """At each period end, queue each DVA's busiest hour of that period."""
    cfg = world.config
    first = 0
    for probe, end in enumerate(_period_ends(world)):
        yield env.timeout(end - 0.5 - env.now)
        # sized from the last 12 months the DVA saw (the first period: from itself)
        world.workers = market.size_workers(
            cfg, world.load[max(0, first - 365):first] if first > 0 else world.load[:end])
        for i, spec in enumerate(cfg.dvas):
            per_day = world.load[first:end, i]
            busiest = first + int(np.argmax(per_day.sum(axis=1)))
            rates = world.load[busiest, i] * cfg.peak_hour_share / 3600
            workers = int(world.workers[i])
            seed = np.random.SeedSequence([world.seed, 1, probe, i])
            stats = simulate_peak(PeakLoad(*rates), cfg.service, workers, seed,
                                  cfg.window_requests, cfg.client_timeout_s)
            world.micro_events += stats.events
            world.peak_stats.setdefault(i, []).append(stats)
            world.probes.append({"dva": spec.name, "period_end": world.date_of(end).isoformat(),
                                 "busiest_day": world.date_of(busiest).isoformat(),
                                 **stats.as_dict()})
        first = end


def year_end(env: simpy.Environment, world: World) -> Iterator:
    first = 0
    done_probes = 0
    for y in range(world.config.years):
        year = world.start.year + y
        end = world.day_of(date(year + 1, 1, 1))
        yield env.timeout(end - 0.25 - env.now)  # after the last probe of the year
        n_probes = world.config.probes_per_year
        stats = [world.peak_stats.get(i, [])[done_probes: done_probes + n_probes]
                 for i in range(len(world.config.dvas))]
        done_probes += n_probes
        entries = int(((world.entry_day >= first) & (world.entry_day < end)
                       & (world.entry_day > 0)).sum())
        world.years.append(world.year_record(year, first, end - 1, stats, entries))
        first = end


def list_refresh(env: simpy.Environment, world: World, record: dict[str, Any]) -> Iterator:
    """Each DVA refreshes the OCL and Whitelist every 900 s on its own phase (SPEC §2)."""
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 2, len(world.events)]))
    period = world.config.list_refresh_s / 86400
    offsets = np.sort(rng.uniform(0, period, len(world.config.dvas)))
    started = env.now
    for offset in offsets:
        yield env.timeout(started + offset - env.now)
    record["cut_off_minutes"] = round(float(env.now - started) * 1440, 1)


def vendor_event(env: simpy.Environment, world: World, event: Bankruptcy) -> Iterator:
    day = world.day_of(event.when)
    if not 0 <= day < world.days:
        return
    yield env.timeout(day - 0.5)
    world.vendor_exit(env, world.index(event.vendor), event.migrate_share, "bankruptcy",
                      event.window_days)


def market_watch(env: simpy.Environment, world: World) -> Iterator:
    """Monthly: vendors failing once their revenue stops; vendors leaving a central PGO market.

    The per-user scheme pays until 2024 (001:258) and the tender pays three slots 2025-2027
    (001:260): a small vendor without that revenue fails at `vendor_failure_rate` a year.
    """
    cfg = world.config
    fin = cfg.financing
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 3]))
    for month in range(cfg.years * 12):
        month_start = date(cfg.start_year + month // 12, month % 12 + 1, 1)
        yield env.timeout(max(0.0, world.day_of(month_start) - 0.5 - env.now))
        day = math.ceil(env.now)
        year = month_start.year
        live = world.live(day)
        users = world.population.users()
        total = max(1, int(users.sum()))
        central_since = world.day_of(cfg.central_from) if cfg.option == "central" else None
        scheme_pays = fin.per_user_scheme and year <= fin.per_user_until
        for i in np.flatnonzero(live & (world.kinds == "vendor")):
            contracted = (fin.tender and world.dvps[i].name in fin.tender_slots
                          and year <= fin.tender_until)
            if central_since is not None and day > central_since + 365 \
                    and users[i] < cfg.vendor_min_users:
                world.vendor_exit(env, int(i), 0.9, "market exit", cfg.failure_window_days)
            elif cfg.vendor_failure_rate > 0 and not scheme_pays and not contracted \
                    and users[i] < 0.02 * total \
                    and rng.random() < cfg.vendor_failure_rate / 12:
                world.vendor_exit(env, int(i), cfg.failure_migrate_share, "bankruptcy",
                                  cfg.failure_window_days)


def run(config: Config, seed: int = 1, progress: Progress | None = None) -> Result:
    """Simulate `config` with `seed`; the same pair always gives the same result."""
    began = time.perf_counter()
    world = World(config, seed)
    env = CountingEnvironment()
    env.process(daily_cycle(env, world, progress))
    env.process(peak_probe(env, world))
    env.process(year_end(env, world))
    env.process(market_watch(env, world))
    for event in config.bankruptcies:
        env.process(vendor_event(env, world, event))
    env.run(until=world.days)
    wall = time.perf_counter() - began
    events = env.scheduled + world.micro_events
    return _result(world, seed, {"wall_s": wall, "events": events,
                                 "macro_events": env.scheduled,
                                 "queue_events": world.micro_events,
                                 "events_per_s": events / wall if wall > 0 else 0.0})


def _result(world: World, seed: int, performance: dict[str, float]) -> Result:
    weekly = slice(6, world.days, 7)
    series: dict[str, list[Any]] = {k: v[weekly].tolist() for k, v in world.daily.items()}
    series["day"] = list(range(world.days))[weekly]
    series["date"] = [world.date_of(d).isoformat() for d in series["day"]]
    for i, spec in enumerate(world.dvps):
        series[f"users:{spec.name}"] = world.users_by_dvp[weekly, i].tolist()
    pop = world.population
    names = [d.name for d in world.dvps]
    final = {"population": pop.total(), "non_users": pop.non_users, "former": pop.former,
             "stranded": pop.stranded_count(), "users": int(pop.recency.sum()),
             **{f"users:{n}": int(u) for n, u in zip(names, pop.users(), strict=True)}}
    return Result(world.config, seed, [d.name for d in world.config.dvas], names, world.years,
                  world.probes, series, world.events, pop.ledger.as_dict(names), final,
                  performance)
