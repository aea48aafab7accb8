"""The machine-readable report and the rich tables of a national run (issue 6).

The JSON report holds the preset's question, assumptions and sources next to the outcomes, so
a number never travels without what it rests on.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

from rich.table import Table

from scenarios.national.model import Result
from scenarios.national.presets import Preset

REPORT_VERSION = 1


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
        "assumptions": list(preset.assumptions) if preset else [],
        "sources": list(preset.sources) if preset else [],
        "band_2025_users": list(preset.band) if preset and preset.band else None,
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


def write_json(data: dict[str, object], path: Path) -> None:
    """Write a report (from `to_dict`, or several under one key) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, default=_plain, indent=1, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def _m(n: float) -> str:
    return f"{n / 1e6:.2f}M" if abs(n) >= 1e5 else f"{n:,.0f}"


def _eur(n: float) -> str:
    return f"€{n / 1e6:.1f}M"


def year_table(result: Result, title: str) -> Table:
    """One row per simulated year."""
    table = Table(title=title)
    for name in ("year", "users", "used in yr", "active 4wk", "collects/day", "peak req/s",
                 "worst p95 ms", "timeouts", "gov cost", "integrations", "DVPs"):
        table.add_column(name, justify="right")
    for y in result.years:
        dva = y["dva"]
        timeouts = max(v["timeout_share"] for v in dva.values())
        cost = y["government_cost_eur"]
        table.add_row(str(y["year"]), _m(y["users"]), _m(y["year_users"]),
                      _m(y["active_users"]), f"{y['collections_per_day']:,.0f}",
                      f"{y['peak_rps_max']:.1f}", f"{y['p95_ms_max']:,.0f}",
                      f"{timeouts:.1%}", _eur(cost["total"]), str(y["integrations"]),
                      str(y["live_dvps"]))
    return table


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
    for name, _ in results:
        table.add_column(name, justify="right")
    rows = [summary(r) for _, r in results]
    for key in rows[0]:
        cells = []
        for row in rows:
            v = row[key]
            if key.startswith("gov cost"):
                cells.append(_eur(v))
            elif key == "worst timeouts":
                cells.append(f"{v:.1%}")
            elif key in ("users", "used this year", "active users"):
                cells.append(_m(v))
            elif key == "last year":
                cells.append(f"{v:.0f}")
            elif key == "peak req/s (busiest DVA)":
                cells.append(f"{v:.1f}")
            else:
                cells.append(f"{v:,.0f}")
        table.add_row(key, *cells)
    return table
