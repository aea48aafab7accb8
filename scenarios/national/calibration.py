"""Calibration: the history fitted to observed figures, and DVA service times from a load run.

`fit` (issue 19, `pgo-sandbox simulate --calibrate`): scipy.optimize.least_squares fits the
starting accounts, adoption and session parameters (the register's "fitted" entries) so that
the simulated years 2020 - April 2025 reproduce what the sources observed: the Open House total
(EUR 8.1M paid 2020-2024, 001:259) and the ~40,000 users of the vendor that went bankrupt
before 31 March 2025 (001:189). Weak priors pull each parameter to its register value, so six
parameters and two observations give one answer. Other observed figures (vendors paid, DVAs,
DVPs, April 2025 connection rates) and the Gupta forecast for 2025 are reported as checks.

`service_times` / `load` (issue 6, `--service-times`): DVA service times from the JSON summary
of a real `pgo-sandbox load ... --json` run, read defensively: unknown fields are ignored,
steps without usable numbers are skipped, and only when nothing usable remains is it an error.
Searches ("search <Resource>") set the search service time, weighted by their request counts;
"token" sets the token time; "authorize", "login" and "consent" the flow pages. Kinds the run
did not measure keep the model's defaults. A load run measures latency under its own load, not
pure service time; it is the best figure the sandbox gives (a limit, docs/national-model.md).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.national import accounting, assumptions, market, model
from scenarios.national.params import Config, ServiceTime, ServiceTimes

FLOW_STEPS = ("authorize", "login", "consent")


class CalibrationError(ValueError):
    """The summary cannot be read or holds no usable step timings."""


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def _step_time(step: object) -> tuple[ServiceTime, float] | None:
    """(service time, weight) of one step, or None when it carries no usable timing."""
    if not isinstance(step, dict):
        return None
    median = _number(step.get("p50_ms")) or _number(step.get("mean_ms"))
    if median is None:
        return None
    p95 = _number(step.get("p95_ms")) or median * 2.0
    weight = _number(step.get("requests")) or 1.0
    return ServiceTime(median, max(p95, median)), weight


def _combine(times: list[tuple[ServiceTime, float]]) -> ServiceTime | None:
    """Request-weighted geometric blend of several steps' medians and p95s."""
    if not times:
        return None
    total = sum(w for _, w in times)
    median = math.exp(sum(math.log(t.median_ms) * w for t, w in times) / total)
    p95 = math.exp(sum(math.log(t.p95_ms) * w for t, w in times) / total)
    return ServiceTime(median, p95)


def service_times(summary: dict[str, object], source: str = "load run") -> ServiceTimes:
    """ServiceTimes from a parsed load-run summary."""
    steps = summary.get("steps") if isinstance(summary, dict) else None
    if not isinstance(steps, dict):
        raise CalibrationError("summary has no 'steps' object")
    searches, tokens, flows = [], [], []
    for name, step in steps.items():
        timed = _step_time(step)
        if timed is None or not isinstance(name, str):
            continue
        key = name.strip().lower()
        if key.startswith("search "):
            searches.append(timed)
        elif key == "token":
            tokens.append(timed)
        elif key in FLOW_STEPS:
            flows.append(timed)
    search = _combine(searches)
    if search is None:
        raise CalibrationError("summary has no 'search …' step with usable timings")
    default = ServiceTimes()
    flow = str(summary.get("flow", "?"))
    return ServiceTimes(search=search, token=_combine(tokens) or default.token,
                        flow=_combine(flows) or default.flow,
                        source=f"{source} (flow {flow}, {len(searches)} search steps)")


def load(path: Path) -> ServiceTimes:
    """Read a load-run JSON summary from `path`."""
    try:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"cannot read load-run summary {path}: {exc}") from exc
    return service_times(summary, source=str(path))


# -- fitting the history to observations (issue 19) -------------------------------------------
FITTED = ("initial_users", "bass_p", "session_engaged", "session_dormant", "session_lapsed",
          "dormant_churn")
PRIOR_WEIGHT = 0.05  # residual per unit of log-range away from the register value
HISTORY_YEARS = 6  # 2020-2025: the bankruptcy falls early in 2025
MAX_EVALS = 60  # least_squares function evaluations (each is a 0.3 s history run)


def _fast(config: Config) -> Config:
    """The history only, with tiny peak windows (capacity plays no part in adoption)."""
    return dataclasses.replace(config, start_year=2020, years=HISTORY_YEARS, window_requests=20,
                               probes_per_year=1, inspection=False, opt_out=False)


def observed_figures(result: model.Result) -> dict[str, dict[str, Any]]:
    """Model vs observation for every observed 2020-2025 figure; `fitted` marks the targets."""
    reg = assumptions.BY_KEY
    history = accounting.historic_lines(result.config, result.years)
    bankrupt = next((e for e in result.events if e["kind"] == "bankruptcy"), None)
    by_year = {y["year"]: y for y in result.years}
    paid = sum(1 for n, flows in result.ledger["per_dvp"].items()  # type: ignore[union-attr]
               if n in _paid_vendors(result))
    live_2023 = len([n for n, u in by_year.get(2023, {}).get("users_by_dvp", {}).items()])
    figures: dict[str, dict[str, Any]] = {
        "open_house_total_eur": {"observed": reg["observed.open_house_total_eur"].value,
                                 "model": history["open_house_model_eur"], "fitted": True,
                                 "source": reg["observed.open_house_total_eur"].citation},
        "bankrupt_vendor_users": {"observed": reg["observed.bankrupt_users"].value,
                                  "model": bankrupt["users"] if bankrupt else None,
                                  "fitted": True,
                                  "source": reg["observed.bankrupt_users"].citation},
        "vendors_paid_by_scheme": {"observed": reg["financing.scheme_vendors"].value,
                                   "model": paid, "fitted": False,
                                   "source": reg["financing.scheme_vendors"].citation},
        "dvas_2023": {"observed": reg["observed.dvas_2023"].value,
                      "model": len(result.dvas), "fitted": False,
                      "source": reg["observed.dvas_2023"].citation},
        "dvps_2023": {"observed": reg["observed.dvps_2023"].value, "model": live_2023,
                      "fitted": False, "source": reg["observed.dvps_2023"].citation},
    }
    connected = market.connection_table(result.config, np.array([market.APRIL_2025]))[0]
    for j, sector in enumerate(result.config.sectors):
        key = f"sector.{sector.name}.c2025"
        if sector.name == "ggz":
            entry = reg["sector.ggz.connected_2025"]
            figures["connected_2025_ggz_institutions"] = {
                "observed": entry.value, "model": connected[j] * sector.providers,
                "fitted": False, "source": entry.citation}
        elif key in reg and reg[key].kind == "sourced":
            figures[f"connected_2025_{sector.name}"] = {
                "observed": reg[key].value, "model": float(connected[j]), "fitted": False,
                "source": reg[key].citation}
    if 2025 in by_year:
        low, high = reg["check.gupta_2025_low"].value, reg["check.gupta_2025_high"].value
        figures["forecast_check_2025_year_users"] = {
            "observed": f"{low / 1e6:.0f}-{high / 1e6:.0f}M (forecast)",
            "model": by_year[2025]["year_users"], "fitted": False,
            "source": reg["check.gupta_2025_low"].citation + "-308",
            "within": bool(low <= by_year[2025]["year_users"] <= high)}
    for fig in figures.values():
        obs, mod = fig["observed"], fig["model"]
        if isinstance(obs, int | float) and isinstance(mod, int | float):
            fig["error"] = (mod - obs) / obs if obs else float(mod - obs)
    return figures


def _paid_vendors(result: model.Result) -> set[str]:
    """Vendors the per-user scheme paid in some year (their users were counted)."""
    scheme = result.config.financing.scheme_vendors
    ranked = sorted((d for d in result.config.dvps), key=lambda d: -d.attractiveness)
    return {d.name for d in ranked[:scheme]}


def _residuals(figures: dict[str, dict[str, Any]]) -> list[float]:
    out = []
    for fig in figures.values():
        if fig["fitted"]:
            model_value = fig["model"] if fig["model"] is not None else 0.0
            out.append(math.log(max(model_value, 1.0) / fig["observed"]))
    return out


def fit(config: Config, seed: int = 1, max_evals: int | None = None) -> dict[str, Any]:
    """Fit FITTED to the observed figures; returns fitted values, errors per figure, cost.

    Parameters are fitted in log space within the register's ranges (its prior); residuals are
    log(model / observed) for each target plus a weak prior term per parameter.
    """
    from scipy.optimize import least_squares

    reg = assumptions.BY_KEY
    entries = [reg[k] for k in FITTED]
    x0 = np.log([float(getattr(config, k)) for k in FITTED])
    prior = np.log([float(e.value) for e in entries])
    lo = np.log([float(e.low) for e in entries])
    hi = np.log([float(e.high) for e in entries])
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
    base = _fast(config)
    evals = {"n": 0}

    def simulate(x: np.ndarray) -> model.Result:
        values = {k: float(np.exp(v)) for k, v in zip(FITTED, x, strict=True)}
        values["initial_users"] = int(round(values["initial_users"]))
        evals["n"] += 1
        return model.run(dataclasses.replace(base, **values), seed)  # type: ignore[arg-type]

    def residuals(x: np.ndarray) -> np.ndarray:
        fitted = _residuals(observed_figures(simulate(x)))
        pull = PRIOR_WEIGHT * (x - prior) / (hi - lo)
        return np.array(fitted + pull.tolist())

    began = time.perf_counter()
    solution = least_squares(residuals, x0, bounds=(lo, hi), diff_step=0.05,
                             max_nfev=max_evals or MAX_EVALS, x_scale=hi - lo)
    values: dict[str, Any] = {k: float(np.exp(v)) for k, v in zip(FITTED, solution.x,
                                                                   strict=True)}
    values["initial_users"] = int(round(values["initial_users"]))
    figures = observed_figures(simulate(solution.x))
    return {"fitted": values, "figures": figures, "cost": float(solution.cost),
            "evaluations": evals["n"], "status": solution.message,
            "seconds": time.perf_counter() - began,
            "priors": {e.key: {"value": e.value, "low": e.low, "high": e.high} for e in entries}}


def write_fit(result: dict[str, Any], path: Path) -> None:
    """The fitted parameters and errors as JSON; `load_fit` reads them back into a config."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str) + "\n", encoding="utf-8")


def load_fit(path: Path) -> dict[str, Any]:
    """Fitted values from a file written by `write_fit` (or a plain {key: value} object)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"cannot read fitted parameters {path}: {exc}") from exc
    values = data.get("fitted", data) if isinstance(data, dict) else None
    if not isinstance(values, dict) or not values:
        raise CalibrationError(f"{path} holds no fitted parameters")
    unknown = [k for k in values if k not in assumptions.BY_KEY]
    if unknown:
        raise CalibrationError(f"unknown parameters in {path}: {', '.join(unknown)}")
    return values
