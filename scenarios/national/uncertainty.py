"""Uncertainty: the inferred parameters sampled over their ranges, many replications in parallel.

Issue 19: one run per scenario hides the real uncertainty, which is in the inferred numbers,
not in the random seed. `ensemble` draws a seeded Latin hypercube (scipy.stats.qmc) over every
*inferred* input of the register that has a range, runs one replication per draw (its own seed
too) and summarises each headline output as a median with 80% and 95% intervals.

Fitted parameters are held at their fit: they are pinned by the observed history, and sampling
them over their prior would throw the history away. Inferred parameters that touch the history
can still move it, so every replication reports its Open House error; the summary says how
many stay within 15% of the observed EUR 8.1M and gives a second summary over those only
(the inferred ranges conditioned on the observed past, by rejection).

Which parameters drive a result: Spearman rank correlation between each sampled parameter and
each headline output (the usual sensitivity measure for a Latin hypercube), drawn as a tornado.

Parallel: any object with a `map(fn, iterable)` method runs the replications -- by default a
`concurrent.futures.ProcessPoolExecutor` on `cores` processes. A Dask cluster offers the same
method (`distributed.Client(...).get_executor()`), so the same replications run there without
code changes: `dask_executor(address)` connects to a scheduler (`pgo-sandbox simulate
--replications 100 --dask-scheduler tcp://host:8786`) or starts a `distributed.LocalCluster`
("local:N"); tests/scenarios/national/test_national_uncertainty.py runs 4 replications on a
2-worker LocalCluster and gets the serial results. Dask is optional: `pip install
'dask[distributed]'` (extra `cluster`). Ray's `ray.util.multiprocessing.Pool()` has the same
`map` (not tested here).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from scenarios.national import accounting, assumptions, model, outcomes
from scenarios.national.params import Config

HEADLINES = {
    "year_users_2025": "PGO users 2025 (collected in the year)",
    "accounts_last": "PGO accounts, last year",
    "year_users_last": "PGO users, last year (collected in the year)",
    "mgo_users_last": "Mijn Gezondheidsoverzicht users, last year",
    "cost_2032": "government cost 2032 (EUR)",
    "cost_last": "government cost, last year (EUR)",
    "cost_2025_on": "government cost from 2025 on (EUR)",
    "timeouts_last": "worst DVA time-out share, last year",
    "open_house_error": "Open House 2020-2024 vs EUR 8.1M (relative error)",
    "iza_2025": "IZA goal 2025: share of those who want one with a usable, well-filled PGO",
    "iza_last": "IZA goal, last year (same measure)",
    "well_filled_last": "well-filled share (of people with a provider), last year",
    "availability_plateau_1": "data availability at the end of plateau 1 (2026)",
    "availability_plateau_2": "data availability at the end of plateau 2 (2030)",
    "availability_plateau_3": "data availability at the end of plateau 3 (2035, or last year)",
    "medication_avoided_last": "medication admissions avoided, last year (inferred effect)",
}
TORNADO_OUTPUTS = ("year_users_2025", "accounts_last", "cost_last", "iza_last")
BANDS = {  # per-year outputs with intervals: key -> how to read it from a year record
    "accounts_by_year": lambda y: y["users"],
    "cost_by_year": lambda y: y["government_cost_eur"]["total"],
    "iza_by_year": lambda y: y["iza"]["share"],
    "availability_by_year": lambda y: y["data_availability"],
    "well_filled_by_year": lambda y: y["well_filled_share"],
}
HISTORY_TOLERANCE = 0.15


class Mapper(Protocol):
    def map(self, fn: Any, iterable: Iterable[Any]) -> Iterable[Any]: ...


@dataclass(frozen=True, slots=True)
class Draw:
    """One replication: its parameter values (register keys) and seed."""

    index: int
    seed: int
    values: dict[str, Any]


RELEVANT = (  # (key prefixes, whether they matter for a config): switched-off parts are not drawn
    (("inspection_", "financing.inspection_"), lambda c: c.inspection),
    (("opt_out_", "objection_rate"), lambda c: c.opt_out),
    (("shared_effect", "financing.shared_"), lambda c: c.option == "shared"),
    (("central_", "vendor_min_users", "financing.central_"), lambda c: c.option == "central"),
)


def parameters(config: Config | None = None) -> list[assumptions.Assumption]:
    """The inputs the ensemble varies: inferred, with a range, and relevant to `config`."""
    out = []
    for a in assumptions.sampled():
        if a.kind != "inferred":
            continue
        if config is not None and any(a.key.startswith(prefixes) and not applies(config)
                                      for prefixes, applies in RELEVANT):
            continue
        out.append(a)
    return out


def draws(n: int, seed: int, config: Config | None = None) -> list[Draw]:
    """`n` Latin-hypercube draws over the inferred ranges (same n and seed, same draws)."""
    from scipy.stats import qmc

    params = parameters(config)
    unit = qmc.LatinHypercube(d=len(params), seed=np.random.default_rng(seed)).random(n)
    out = []
    for i, row in enumerate(unit):
        values = {}
        for a, u in zip(params, row, strict=True):
            lo, hi = assumptions.to_float(a.low), assumptions.to_float(a.high)
            values[a.key] = assumptions.from_float(a, lo + u * (hi - lo))
        out.append(Draw(i, seed * 100_003 + i, values))
    return out


def headlines(result: model.Result) -> dict[str, float]:
    """The outputs the ensemble summarises, from one run."""
    years = {y["year"]: y for y in result.years}
    last = result.years[-1]
    history = accounting.historic_lines(result.config, result.years)
    cost = {y: float(v["government_cost_eur"]["total"]) for y, v in years.items()}
    nan = float("nan")
    plateau = {p["plateau"]: float(p["data_availability"])
               for p in outcomes.plateaus(result.years)}
    return {
        "year_users_2025": float(years[2025]["year_users"]) if 2025 in years else nan,
        "accounts_last": float(last["users"]),
        "year_users_last": float(last["year_users"]),
        "mgo_users_last": float(last["mgo_users"]),
        "cost_2032": cost.get(2032, nan),
        "cost_last": cost[last["year"]],
        "cost_2025_on": sum(v for y, v in cost.items() if y >= 2025),
        "timeouts_last": max(v["timeout_share"] for v in last["dva"].values()),
        "open_house_error": (float(history["open_house_model_error"])
                             if history["open_house_model_error"] is not None else nan),
        "iza_2025": float(years[2025]["iza"]["share"]) if 2025 in years else nan,
        "iza_last": float(last["iza"]["share"]),
        "well_filled_last": float(last["well_filled_share"]),
        **{f"availability_plateau_{k}": plateau.get(k, nan) for k in (1, 2, 3)},
        "medication_avoided_last": float(last["benefit"]["medication_admissions_avoided"]),
    }


def _one(job: tuple[Config, Draw]) -> dict[str, Any]:
    config, draw = job
    result = model.run(assumptions.apply(config, draw.values), draw.seed)
    out: dict[str, Any] = {"index": draw.index, "seed": draw.seed,
                           "headlines": headlines(result),
                           "wall_s": result.performance["wall_s"]}
    for key, read in BANDS.items():
        out[key] = {y["year"]: float(read(y)) for y in result.years}
    return out


def summarise(values: list[float]) -> dict[str, float]:
    """Median with 80% and 95% intervals."""
    x = np.asarray([v for v in values if np.isfinite(v)], float)
    if len(x) == 0:
        return {"median": float("nan"), "p10": float("nan"), "p90": float("nan"),
                "p2_5": float("nan"), "p97_5": float("nan"), "n": 0}
    q = np.percentile(x, [50, 10, 90, 2.5, 97.5])
    return {"median": float(q[0]), "p10": float(q[1]), "p90": float(q[2]),
            "p2_5": float(q[3]), "p97_5": float(q[4]), "n": int(len(x))}


def tornado(sample: list[Draw], runs: list[dict[str, Any]], output: str,
            top: int = 8) -> list[dict[str, Any]]:
    """The parameters most rank-correlated with `output`, strongest first.

    With fewer replications than about twice the parameters, chance correlations are large
    (|rho| ~ 1/sqrt(n)); `ensemble` reports that noise level next to the tornado.
    """
    from scipy.stats import spearmanr

    y = np.array([r["headlines"][output] for r in runs], float)
    if len(y) < 3 or not np.all(np.isfinite(y)) or np.ptp(y) == 0:
        return []
    rows = []
    for a in assumptions.sampled():
        if a.key not in sample[0].values:
            continue
        x = np.array([assumptions.to_float(d.values[a.key]) for d in sample], float)
        if np.ptp(x) == 0:
            continue
        rho = float(spearmanr(x, y).statistic)
        if np.isfinite(rho):
            rows.append({"key": a.key, "what": a.what, "rho": rho, "low": a.low, "high": a.high})
    rows.sort(key=lambda r: -abs(r["rho"]))
    return rows[:top]


@contextmanager
def dask_executor(address: str) -> Iterator[Mapper]:
    """A Dask executor: `address` of a running scheduler (tcp://host:8786), or "local" /
    "local:N" for a `distributed.LocalCluster` of N single-threaded worker processes here.

    Dask is an existing engine (scheduling, retries, many machines); nothing of it is needed
    for the default local processes, so it is imported only here. ValueError when missing.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ValueError("--dask-scheduler needs Dask: pip install 'dask[distributed]' "
                         "(or the project's extra: pip install -e '.[cluster]')") from exc
    cluster = None
    if address == "local" or address.startswith("local:"):
        workers = int(address.partition(":")[2] or (os.cpu_count() or 1))
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        yield client.get_executor()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def ensemble(config: Config, n: int, seed: int = 1, cores: int | None = None,
             mapper: Mapper | None = None) -> dict[str, Any]:
    """`n` replications over the inferred ranges; medians, 80%/95% intervals, tornado."""
    if n < 1:
        raise ValueError("replications must be at least 1")
    sample = draws(n, seed, config)
    jobs = [(config, d) for d in sample]
    began = time.perf_counter()
    cores = cores or min(os.cpu_count() or 1, n)
    if mapper is not None:
        runs = list(mapper.map(_one, jobs))
    elif cores <= 1 or n == 1:
        runs = [_one(j) for j in jobs]
    else:
        with ProcessPoolExecutor(max_workers=cores) as pool:
            runs = list(pool.map(_one, jobs))
    wall = time.perf_counter() - began
    runs.sort(key=lambda r: r["index"])
    summary = {k: summarise([r["headlines"][k] for r in runs]) for k in HEADLINES}
    errors = [r["headlines"]["open_house_error"] for r in runs]
    kept = [r for r, e in zip(runs, errors, strict=True)
            if np.isfinite(e) and abs(e) <= HISTORY_TOLERANCE]
    consistent = len(kept)
    years = sorted(runs[0]["accounts_by_year"])
    bands = {key: {str(y): summarise([r[key][y] for r in runs]) for y in years}
             for key in BANDS}
    return {
        "replications": n, "seed": seed, "cores": 1 if mapper is None and cores <= 1 else cores,
        "wall_s": wall, "cpu_s_per_run": float(np.mean([r["wall_s"] for r in runs])),
        "parameters": [a.key for a in parameters(config)],
        "tornado_noise": 1.0 / np.sqrt(max(1, n - 1)),
        "summary": summary, "labels": HEADLINES, "bands": bands,
        # conditioned on the observed past: only replications that keep the Open House total
        # within the tolerance (rejection sampling); None when fewer than 3 do
        "summary_history_consistent": ({k: summarise([r["headlines"][k] for r in kept])
                                        for k in HEADLINES} if consistent >= 3 else None),
        "history_consistent": {"within": consistent, "of": n, "tolerance": HISTORY_TOLERANCE},
        "tornado": {k: tornado(sample, runs, k) for k in TORNADO_OUTPUTS},
        "runs": runs,
        "draws": [d.values for d in sample],
    }
