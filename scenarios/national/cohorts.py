"""The population as cohorts: counts per DVP and weeks since the last collect (issue 6).

Eighteen million citizens are not eighteen million processes. A citizen matters here only
through a few states: no PGO, a PGO at vendor d with its last collect k weeks ago, stranded
after a bankruptcy, or former user. So the state is a DVP x 53 matrix of counts (bucket 52
means "a year or more") plus three scalars, and each day every flow is one binomial or
multinomial draw on those counts. That gives the same distribution as simulating individuals
with those daily hazards, at a cost that does not depend on the population size. Weeks, not
days, because the thresholds that matter (4 weeks active, 26 weeks consent, 52 weeks churn)
are whole weeks and a 7 times smaller matrix makes the daily draw 7 times cheaper.

Every flow is booked in a `Ledger`, so the conservation test can prove nobody appears or
vanishes unaccounted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BUCKETS = 53  # weeks since last collect; the last bucket holds "52 weeks or more"
ACTIVE_WEEKS = 4  # an active user collected in the last 4 weeks
LAPSE_WEEKS = 26  # long-lived consent lapses after 6 months without collecting (SPEC §3)
YEAR_WEEKS = 52


@dataclass(slots=True)
class Ledger:
    """Every flow into and out of each compartment since the start."""

    initial_population: int
    initial_users: np.ndarray
    births: int = 0
    immigration: int = 0
    deaths: int = 0
    adopted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    returned: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    migrated_in: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    migrated_out: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    exited: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    churned: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    died: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    stranded_in: int = 0
    dropped_out: int = 0  # left a PGO without moving to another (bankruptcy, expiry)

    def as_dict(self, names: list[str]) -> dict[str, object]:
        per_dvp = ("initial_users", "adopted", "returned", "migrated_in", "migrated_out",
                   "exited", "churned", "died")
        out: dict[str, object] = {k: int(getattr(self, k)) for k in (
            "initial_population", "births", "immigration", "deaths", "stranded_in",
            "dropped_out")}
        out["per_dvp"] = {name: {k: int(getattr(self, k)[i]) for k in per_dvp}
                          for i, name in enumerate(names)}
        return out


@dataclass(slots=True)
class DayInput:
    """What the policy layer decides for one day."""

    session_rate: np.ndarray  # per DVP x bucket: chance of a collect session today
    choice: np.ndarray  # per DVP: weights of new users' choice (0 for closed vendors)
    adoption_hazard: float  # per day, on the remaining potential
    potential: float  # citizens who would ever use a PGO
    return_hazard: float
    churn_hazard: float
    death_hazard: float  # applied on week ends, for the whole week
    births: float
    immigration: float
    lapse_week: int  # bucket from which consent has lapsed (BUCKETS: never)
    week_end: bool = False  # age everyone by a week after today's collects
    central: int = -1  # index of the central PGO, if users move to it
    central_hazard: float = 0.0
    central_sources: np.ndarray | None = None  # mask of DVPs whose users move to it
    migration_hazard: float = 0.05


@dataclass(slots=True)
class DayOutput:
    """What happened on one day, for load and outcomes."""

    sessions: np.ndarray  # per DVP, collect sessions by existing users
    first_sessions: np.ndarray  # per DVP, first collects (new, returning, migrated users)
    lapsed_sessions: np.ndarray  # per DVP, sessions that needed a new consent
    consents_lapsed: int
    adopted: int


class Cohorts:
    """Cohort state of all citizens; `step` advances one day."""

    def __init__(self, total: int, users: np.ndarray, recency_weights: np.ndarray,
                 rng: np.random.Generator) -> None:
        n_dvp = len(users)
        self.rng = rng
        self.recency = np.zeros((n_dvp, BUCKETS), np.int64)
        for i, n in enumerate(users):
            self.recency[i] = rng.multinomial(int(n), recency_weights)
        self.non_users = int(total - users.sum())
        self.former = 0
        self.stranded: list[list[int]] = []  # [count, days left] per bankruptcy
        zeros = np.zeros(n_dvp, np.int64)
        self.ledger = Ledger(total, users.astype(np.int64).copy(), adopted=zeros.copy(),
                             returned=zeros.copy(), migrated_in=zeros.copy(),
                             migrated_out=zeros.copy(), exited=zeros.copy(),
                             churned=zeros.copy(), died=zeros.copy())

    # -- counts -------------------------------------------------------------------------
    def users(self) -> np.ndarray:
        return self.recency.sum(axis=1)

    def stranded_count(self) -> int:
        return sum(t[0] for t in self.stranded)

    def total(self) -> int:
        return int(self.recency.sum()) + self.non_users + self.former + self.stranded_count()

    def active(self, within_weeks: int) -> int:
        """Users with a collect in the last `within_weeks` weeks."""
        return int(self.recency[:, : min(within_weeks, BUCKETS)].sum())

    # -- one day ------------------------------------------------------------------------
    def step(self, day: DayInput) -> DayOutput:
        rng, led = self.rng, self.ledger
        self._deaths_and_births(day)
        sessions = rng.binomial(self.recency, day.session_rate)
        per_dvp = sessions.sum(axis=1)
        lapsed = sessions[:, day.lapse_week:].sum(axis=1)
        self.recency -= sessions
        self.recency[:, 0] += per_dvp
        churn = rng.binomial(self.recency[:, -1], day.churn_hazard)
        self.recency[:, -1] -= churn
        led.churned += churn
        self.former += int(churn.sum())
        crossing = 0
        if day.week_end:
            if day.lapse_week < BUCKETS:
                crossing = int(self.recency[:, day.lapse_week - 1].sum())
            self.recency[:, -1] += self.recency[:, -2]
            self.recency[:, 1:-1] = self.recency[:, :-2]
            self.recency[:, 0] = 0
        first = np.zeros(len(per_dvp), np.int64)
        adopted = self._adopt(day, first)
        self._drain_stranded(day, first)
        self._move_to_central(day, first)
        return DayOutput(per_dvp, first, lapsed, crossing, adopted)

    def _deaths_and_births(self, day: DayInput) -> None:
        rng, led = self.rng, self.ledger
        hazard = day.death_hazard if day.week_end else 0.0
        died = rng.binomial(self.recency, hazard)
        self.recency -= died
        led.died += died.sum(axis=1)
        dead = int(died.sum())
        for pool in ("non_users", "former"):
            d = int(rng.binomial(getattr(self, pool), hazard))
            setattr(self, pool, getattr(self, pool) - d)
            dead += d
        for tranche in self.stranded:
            d = int(rng.binomial(tranche[0], hazard))
            tranche[0] -= d
            dead += d
        born, came = int(rng.poisson(day.births)), int(rng.poisson(day.immigration))
        self.non_users += born + came
        led.deaths += dead
        led.births += born
        led.immigration += came

    def _place(self, n: int, choice: np.ndarray, first: np.ndarray) -> np.ndarray:
        """New accounts at the chosen DVPs, who collect on their first day."""
        if n <= 0 or choice.sum() <= 0:
            return np.zeros(len(choice), np.int64)
        placed = self.rng.multinomial(n, choice / choice.sum())
        self.recency[:, 0] += placed
        first += placed
        return placed

    def _adopt(self, day: DayInput, first: np.ndarray) -> int:
        if day.choice.sum() <= 0:
            return 0
        accounts = int(self.recency.sum()) + self.stranded_count()
        remaining = max(0, min(self.non_users, int(day.potential) - accounts - self.former))
        new = int(self.rng.binomial(remaining, min(1.0, day.adoption_hazard)))
        back = int(self.rng.binomial(self.former, day.return_hazard))
        self.non_users -= new
        self.former -= back
        self.ledger.adopted += self._place(new, day.choice, first)
        self.ledger.returned += self._place(back, day.choice, first)
        return new

    def _drain_stranded(self, day: DayInput, first: np.ndarray) -> None:
        for tranche in self.stranded:
            moving = int(self.rng.binomial(tranche[0], day.migration_hazard))
            if day.choice.sum() <= 0:
                moving = 0
            tranche[0] -= moving
            self.ledger.migrated_in += self._place(moving, day.choice, first)
            tranche[1] -= 1
            if tranche[1] <= 0:
                self.former += tranche[0]
                self.ledger.dropped_out += tranche[0]
                tranche[0] = 0
        self.stranded = [t for t in self.stranded if t[1] > 0]

    def _move_to_central(self, day: DayInput, first: np.ndarray) -> None:
        if day.central < 0 or day.central_hazard <= 0 or day.central_sources is None:
            return
        mask = day.central_sources[:, None]
        moving = self.rng.binomial(self.recency * mask, day.central_hazard)
        self.recency -= moving
        out = moving.sum(axis=1)
        total = int(out.sum())
        self.recency[day.central, 0] += total
        first[day.central] += total
        self.ledger.migrated_out += out
        self.ledger.migrated_in[day.central] += total

    # -- a vendor leaves ----------------------------------------------------------------
    def exit_vendor(self, index: int, migrate_share: float, window_days: int) -> tuple[int, int]:
        """All users leave DVP `index` now; a share goes looking for another PGO.

        Returns (users it had, users who will try to migrate).
        """
        n = int(self.recency[index].sum())
        migrants = int(self.rng.binomial(n, migrate_share))
        self.recency[index] = 0
        self.ledger.exited[index] += n
        self.ledger.stranded_in += migrants
        self.ledger.dropped_out += n - migrants
        self.former += n - migrants
        if migrants:
            self.stranded.append([migrants, window_days])
        return n, migrants
