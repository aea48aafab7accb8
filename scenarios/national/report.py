"""The machine-readable report and the rich tables of a national run (issues 6 and 19).

The JSON report holds the preset's question, its assumptions and the whole assumptions register
(source file:line, or inferred with a range and a reason) next to the outcomes, so a number
never travels without what it rests on.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from pathlib import Path

from rich.console import Group
from rich.table import Table

from scenarios.national import accounting, assumptions, calibration, outcomes
from scenarios.national.model import Result
from scenarios.national.presets import Preset

REPORT_VERSION = 2


def _plain(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_dict(result: Result, preset: Preset | None = None) -> dict[str, object]:
    """The whole run as plain data."""
    return {
        "report": "pgo-sandbox national simulation",
        "version": REPORT_VERSION,
        "scenario": preset.name if preset else "custom",
        "question": preset.question if preset else "",
        "question_nl": preset.question_nl if preset else "",
        "iza_definition": IZA_DEFINITION,
        "plateaus": outcomes.plateaus(result.years),
        "assumptions": list(preset.assumptions) if preset else [],
        "sources": list(preset.sources) if preset else [],
        "forecast_check_2025_users": _band_check(result, preset),
        "historic_lines": accounting.historic_lines(result.config, result.years),
        "observed_figures": calibration.observed_figures(result),
        "assumptions_register": register(),
        "seed": result.seed,
        "start_year": result.config.start_year,
        "years_simulated": result.config.years,
        "service_times": result.config.service,
        "dvas": result.dvas,
        "dvps": result.dvps,
        "years": result.years,
        "events": result.events,
        "peak_windows": result.probes,
        "ledger": result.ledger,
        "final": result.final,
        "series_weekly": result.series,
        "performance": result.performance,
        "config": result.config,
    }


IZA_DEFINITION = (
    "IZA goal (003:251-253): share of the citizens who want a PGO (market_potential x "
    "population) who have a usable, well-filled one. Usable: collected through it in the last "
    "52 weeks, not cut off by a DVA time-out (1 - load-weighted time-out share). Well-filled: "
    "at least iza_fill_threshold of the person's hospital, GP, pharmacy and GGZ providers "
    "(the standards of 002:67-68) serve data through MedMij. Inferred definition: the sources "
    "do not define the words; the threshold and the potential are sampled over their ranges.")


def write_json(data: dict[str, object], path: Path) -> None:
    """Write a report (from `to_dict`, or several under one key) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, default=_plain, indent=1, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def _m(n: float) -> str:
    return f"{n / 1e6:.2f}M" if abs(n) >= 1e5 else f"{n:,.0f}"


def _eur(n: float) -> str:
    return f"€{n / 1e6:.1f}M"


def year_table(result: Result, title: str) -> Group:
    """One row per simulated year, as two tables (use; load and cost) that fit 100 columns.

    Thirteen columns side by side need about 160; rich would cut headers and numbers to "…"
    in an ordinary 100-column terminal, so the year table comes in two halves.
    """
    use = Table(title=f"{title}\nuse per year")
    for name in ("year", "PGO\naccounts", "used in\nthe year", "active\n(4 wk)",
                 "MGO users\n(public)", "data\navail.", "collects\nper day"):
        use.add_column(name, justify="right")
    load = Table(title="load and cost per year")
    for name in ("year", "peak\nreq/s", "worst\np95 ms", "time-outs", "gov.\ncost",
                 "integrations", "DVPs"):
        load.add_column(name, justify="right")
    for y in result.years:
        dva = y["dva"]
        timeouts = max(v["timeout_share"] for v in dva.values())
        cost = y["government_cost_eur"]
        use.add_row(str(y["year"]), _m(y["users"]), _m(y["year_users"]),
                    _m(y["active_users"]), _m(y["mgo_users"]),
                    f"{y['data_availability']:.0%}", f"{y['collections_per_day']:,.0f}")
        load.add_row(str(y["year"]), f"{y['peak_rps_max']:.1f}", f"{y['p95_ms_max']:,.0f}",
                     f"{timeouts:.1%}", _eur(cost["total"]), str(y["integrations"]),
                     str(y["live_dvps"]))
    return Group(use, load)


def dva_table(result: Result) -> Table:
    """Each DVA in the last simulated year: peak load, capacity and latency."""
    last = result.years[-1]
    table = Table(title=f"DVAs in {last['year']} (busiest hour)")
    for name in ("DVA", "peak req/s", "workers", "utilisation", "p50 ms", "p95 ms", "p99 ms",
                 "timeouts"):
        table.add_column(name, justify="right" if name != "DVA" else "left", no_wrap=True)
    dva = last["dva"]
    for name, v in dva.items():
        table.add_row(name, f"{v['peak_rps']:.1f}", str(v["workers"]), f"{v['utilisation']:.0%}",
                      f"{v['p50_ms']:,.0f}", f"{v['p95_ms']:,.0f}", f"{v['p99_ms']:,.0f}",
                      f"{v['timeout_share']:.1%}")
    return table


def summary(result: Result) -> dict[str, float]:
    """Headline figures of the last year, plus totals over the run (for --compare)."""
    last = result.years[-1]
    cost = [y["government_cost_eur"]["total"] for y in result.years]
    dva = last["dva"]
    return {
        "last year": float(last["year"]),
        "users": float(last["users"]),
        "MGO users (public service)": float(last["mgo_users"]),
        "used this year": float(last["year_users"]),
        "active users": float(last["active_users"]),
        "collections/day": float(last["collections_per_day"]),
        "peak req/s (busiest DVA)": float(last["peak_rps_max"]),
        "worst p95 ms": float(last["p95_ms_max"]),
        "worst timeouts": max(v["timeout_share"] for v in dva.values()),
        "gov cost last year": float(cost[-1]),
        "gov cost whole run": float(sum(cost)),
        "integrations": float(last["integrations"]),
        "bankruptcies/exits": float(len(result.events)),
    }


def compare_table(results: list[tuple[str, Result]]) -> Table:
    """Scenarios side by side, one column each."""
    table = Table(title="Scenarios compared (last simulated year)")
    table.add_column("outcome")
    for name, _ in results:  # long preset names fold instead of ending in "…"
        table.add_column(name, justify="right", overflow="fold")
    rows = [summary(r) for _, r in results]
    for key in rows[0]:
        cells = []
        for row in rows:
            v = row[key]
            if key.startswith("gov cost"):
                cells.append(_eur(v))
            elif key == "worst timeouts":
                cells.append(f"{v:.1%}")
            elif key in ("users", "used this year", "active users",
                         "MGO users (public service)"):
                cells.append(_m(v))
            elif key == "last year":
                cells.append(f"{v:.0f}")
            elif key == "peak req/s (busiest DVA)":
                cells.append(f"{v:.1f}")
            else:
                cells.append(f"{v:,.0f}")
        table.add_row(key, *cells)
    return table


def register() -> list[dict[str, object]]:
    """The assumptions register as plain data (for the JSON report)."""
    return [a.as_dict() for a in assumptions.REGISTER]


def _band_check(result: Result, preset: Preset | None) -> dict[str, object] | None:
    """The preset's forecast band for 2025 as a check (not a target)."""
    if not preset or not preset.band:
        return None
    y2025 = next((y for y in result.years if y["year"] == 2025), None)
    if y2025 is None:
        return None
    low, high = preset.band
    return {"band": [low, high], "model": y2025["year_users"],
            "within": bool(low <= y2025["year_users"] <= high),
            "note": "Gupta forecast (003:307-308), a check; the model is fitted to observations"}


def _value(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int):
        return str(v) if 1900 <= v <= 2100 else f"{v:,}"  # years without a thousands comma
    if isinstance(v, tuple):
        return ", ".join(map(str, v))
    return str(v)


def assumptions_table() -> Table:
    """The register: key, value, kind, and source (file:line) or range and reason."""
    table = Table(title="Assumptions register (sources in ../shared/policy/)")
    rows = []
    for a in assumptions.REGISTER:
        if a.kind == "sourced":
            where = f"{a.source}"
        elif a.kind in ("inferred", "fitted"):
            where = (f"{_value(a.low)} .. {_value(a.high)}" if a.low is not None else "-")
        else:
            where = a.source or "-"
        what = a.what + (f" ({a.why})" if a.why and a.kind != "sourced" else "")
        rows.append((a.key, _value(a.value), a.unit, a.kind, where, what))
    # a file:line citation stays on one line (it is what a reader searches for); the free
    # text columns fold so the table fits 100 columns
    cite = max((len(r[4]) for r in rows if ".txt:" in r[4]), default=0)
    for name in ("key", "value", "unit", "kind", "source / range", "what (why if inferred)"):
        table.add_column(name, overflow="fold",
                         min_width=cite if name == "source / range" else None)
    for row in rows:
        table.add_row(*row)
    return table


def history_table(result: Result, preset: Preset | None = None) -> Table:
    """Historic money lines and the observed figures next to the model's."""
    table = Table(title="History: observed (sources) vs model")
    for name in ("figure", "observed", "model", "error", "source"):
        table.add_column(name, overflow="fold")
    hist = accounting.historic_lines(result.config, result.years)
    for key, label in (("impulse_2018_eur", "impulse funding 2018 (not simulated)"),
                       ("medmij_2016_2024_eur", "MedMij 2016-2024 (not simulated)"),
                       ("vipp_2017_2023_eur", "VIPP 2017-2023 (not simulated)"),
                       ("tender_2025_2027_eur", "tender 2025-2027 (simulated per slot)")):
        table.add_row(label, _eur(float(hist[key])), "", "", "")  # type: ignore[arg-type]
    for name, fig in calibration.observed_figures(result).items():
        err = fig.get("error")
        obs, mod = fig["observed"], fig["model"]
        table.add_row(name + (" (fitted)" if fig["fitted"] else ""),
                      _eur(obs) if name.endswith("eur") else _value(obs),
                      "-" if mod is None else (_eur(mod) if name.endswith("eur")
                                               else _value(mod)),
                      "" if err is None else f"{err:+.1%}", _cite(str(fig["source"])))
    table.caption = "source NNN:line = ../shared/policy/NNN_*.txt, that line"
    return table


def _cite(source: str) -> str:
    """../shared/policy/001_c358….txt:259 as 001:259, the citation style of the docs."""
    return re.sub(r"(?:\.\./shared/policy/)?(\d{3})_[0-9a-f]+\.txt:", r"\1:", source)


def fit_table(fit: dict[str, object]) -> Table:
    """--calibrate: fitted parameters and the error per observed figure."""
    table = Table(title="Calibration: fit error per observed figure")
    for name in ("figure", "observed", "model", "error", "fitted?"):
        table.add_column(name)
    for name, fig in fit["figures"].items():  # type: ignore[attr-defined]
        err = fig.get("error")
        table.add_row(name, _value(fig["observed"]), _value(fig["model"]),
                      "" if err is None else f"{err:+.2%}", "yes" if fig["fitted"] else "check")
    for key, value in fit["fitted"].items():  # type: ignore[attr-defined]
        table.add_row(f"fitted {key}", "", _value(value), "", "")
    return table


def outcome_table(result: Result) -> Table:
    """Per year: the IZA goal, well-filled and usable shares, and the benefit side."""
    table = Table(title="Outcomes: the IZA goal (usable, well-filled PGO for who wants one), "
                  "data availability, benefit")
    for name in ("year", "want\na PGO", "usable,\nwell filled", "IZA\ngoal",
                 "IZA of\naccounts", "well\nfilled", "usable", "data\navail.",
                 "pharmacy\nlinked", "admissions\navoided"):  # two-line headers: 100 columns
        table.add_column(name, justify="right")
    for y in result.years:
        iza, conn = y["iza"], y["connected_by_kind"]
        table.add_row(str(y["year"]), _m(iza["want"]), _m(iza["usable_well_filled"]),
                      f"{iza['share']:.1%}", f"{iza['share_accounts']:.1%}",
                      f"{y['well_filled_share']:.0%}", f"{y['usable_share']:.1%}",
                      f"{y['data_availability']:.0%}", f"{conn.get('pharmacy', 0.0):.0%}",
                      f"{y['benefit']['medication_admissions_avoided']:,.0f}")
    table.caption = ("inferred definition (see JSON iza_definition); medication admissions: "
                     "75 a day (004:61-62) x share of people whose usable PGO holds the "
                     "medication overview x inferred effect; 40% administration time (004:37): "
                     "no PGO effect in the sources, not quantified")
    return table


def plateau_table(result: Result) -> Table:
    """Data availability at the end of each plateau (004:276-283)."""
    table = Table(title="Data availability per plateau (end of plateau)")
    for name in ("plateau", "years", "until", "data\navail.", "well\nfilled", "IZA\ngoal",
                 "GP", "hospital", "pharmacy", "GGZ"):
        table.add_column(name, justify="right")
    for p in outcomes.plateaus(result.years):
        c = p["connected_by_kind"]
        table.add_row(str(p["plateau"]), p["years"],
                      f"{p['until']}{'' if p['complete'] else ' (end of run)'}",
                      f"{p['data_availability']:.0%}", f"{p['well_filled_share']:.0%}",
                      f"{p['iza_share']:.1%}", f"{c['gp']:.0%}", f"{c['hospital']:.0%}",
                      f"{c['pharmacy']:.0%}", f"{c['ggz']:.0%}")
    return table


def segment_table(result: Result) -> Table:
    """Users by age band and chronic condition in the last year (an inferred allocation)."""
    last = result.years[-1]
    seg = last["segments"]
    table = Table(title=f"Segments {last['year']}: users in the year by age band and chronic "
                  "condition (allocated by inferred propensities; no figures in the sources)")
    for name in ("segment", "population", "users", "coverage"):
        table.add_column(name, justify="right" if name != "segment" else "left")
    rows = [(f"age {band}", v) for band, v in seg["by_age"].items()]
    rows += [("chronic patients", seg["chronic"]), ("not chronic", seg["not_chronic"])]
    for name, v in rows:
        table.add_row(name, _m(v["population"]), _m(v["users"]), f"{v['coverage']:.1%}")
    return table


def iza_band_table(spread: dict[str, object]) -> Table:
    """The IZA goal and data availability per year with 80% and 95% intervals."""
    table = Table(title="IZA goal and data availability per year (median, 80%, 95%)")
    for col in ("year", "IZA goal", "80%", "95%", "data avail.", "80%", "95%"):
        table.add_column(col, justify="right")
    iza, avail = spread["bands"]["iza_by_year"], spread["bands"]["availability_by_year"]  # type: ignore[index]
    for year, s in iza.items():
        a = avail[year]
        table.add_row(year, f"{s['median']:.1%}", f"{s['p10']:.1%}-{s['p90']:.1%}",
                      f"{s['p2_5']:.1%}-{s['p97_5']:.1%}", f"{a['median']:.0%}",
                      f"{a['p10']:.0%}-{a['p90']:.0%}", f"{a['p2_5']:.0%}-{a['p97_5']:.0%}")
    return table


SHARES = ("iza_", "well_filled", "availability_")


def _fmt(key: str, v: float) -> str:
    if key.startswith("cost"):
        return _eur(v)
    if key.startswith(SHARES):
        return f"{v:.1%}"
    if key == "medication_avoided_last":
        return f"{v:,.0f}"
    if key in ("timeouts_last", "open_house_error"):
        return f"{v:+.1%}" if key == "open_house_error" else f"{v:.1%}"
    return _m(v)


def uncertainty_table(spread: dict[str, object], name: str) -> Table:
    """Medians with 80% and 95% intervals per headline output."""
    table = Table(title=f"{name}: {spread['replications']} replications over the inferred "
                  f"ranges (median, 80% and 95% intervals)")
    for col in ("output", "median", "80% interval", "95% interval"):
        table.add_column(col, justify="right" if col != "output" else "left")
    labels = spread["labels"]
    kept = spread.get("summary_history_consistent") or {}
    for key, s in spread["summary"].items():  # type: ignore[attr-defined]
        if not s["n"]:
            continue
        table.add_row(labels[key], _fmt(key, s["median"]),  # type: ignore[index]
                      f"{_fmt(key, s['p10'])} - {_fmt(key, s['p90'])}",
                      f"{_fmt(key, s['p2_5'])} - {_fmt(key, s['p97_5'])}")
        if key in kept and kept[key]["n"]:  # type: ignore[operator,index]
            k = kept[key]  # type: ignore[index]
            table.add_row("  history-consistent only", _fmt(key, k["median"]),
                          f"{_fmt(key, k['p10'])} - {_fmt(key, k['p90'])}",
                          f"{_fmt(key, k['p2_5'])} - {_fmt(key, k['p97_5'])}")
    hc = spread["history_consistent"]
    table.caption = (f"{hc['within']} of {hc['of']} replications keep the Open House total "  # type: ignore[index]
                     f"within {hc['tolerance']:.0%} of EUR 8.1M; "  # type: ignore[index]
                     f"{spread['wall_s']:.0f} s on "
                     f"{spread.get('executor') or str(spread['cores']) + ' cores'}")
    return table


def tornado_table(spread: dict[str, object], top: int = 5) -> Table:
    """The inferred parameters that drive each headline (Spearman rank correlation)."""
    table = Table(title="What drives the result (rank correlation with the output)")
    table.caption = (f"|rho| below about {spread['tornado_noise']:.2f} is chance at "
                     f"{spread['replications']} replications "
                     f"({len(spread['parameters'])} parameters drawn)")  # type: ignore[arg-type]
    for col in ("output", "parameter", "rho", "range"):
        table.add_column(col)
    for output, rows in spread["tornado"].items():  # type: ignore[attr-defined]
        for row in rows[:top]:
            table.add_row(spread["labels"][output], row["key"],  # type: ignore[index]
                          f"{row['rho']:+.2f}", f"{_value(row['low'])} .. {_value(row['high'])}")
    return table
