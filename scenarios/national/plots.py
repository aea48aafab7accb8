"""PNG plots of a national run: adoption, load per DVA, latency, cost; and a comparison.

matplotlib with the Agg backend: no display needed, same pixels on every machine.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: must precede pyplot's import
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from scenarios.national import outcomes  # noqa: E402
from scenarios.national.model import Result  # noqa: E402


def _dates(result: Result) -> list[date]:
    return [date.fromisoformat(d) for d in result.series["date"]]


def _save(fig: plt.Figure, path: Path) -> Path:
    for ax in fig.axes:  # dates as 2025, Jul …; whole years as 2025, never 2024.75
        if isinstance(ax.xaxis.get_major_formatter(), mdates.AutoDateFormatter):
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _top_dvas(result: Result, key: str, n: int = 8) -> list[str]:
    last = result.years[-1]["dva"]
    return sorted(last, key=lambda name: -last[name][key])[:n]


def _probe_series(result: Result, dva: str, key: str) -> tuple[list[date], list[float]]:
    rows = [p for p in result.probes if p["dva"] == dva]
    return [date.fromisoformat(p["period_end"]) for p in rows], [p[key] for p in rows]


def adoption(result: Result, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 5))
    days = _dates(result)
    for key, label in (("users", "PGO accounts"), ("consent_live", "consent live (26 wk)"),
                       ("active", "active (4 wk)")):
        ax.plot(days, [v / 1e6 for v in result.series[key]], label=label)
    if any(result.series["mgo_users"]):  # a public service next to the PGOs: its own line
        ax.plot(days, [v / 1e6 for v in result.series["mgo_users"]], linestyle="--",
                label="Mijn Gezondheidsoverzicht users (public service)")
    ax.set_ylabel("million persons")
    ax.set_title("Adoption")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _per_dva(result: Result, path: Path, rank: str, series: str, title: str, ylabel: str,
             log_scale: bool = False) -> Path:
    fig, ax = plt.subplots(figsize=(9, 5))
    for dva in _top_dvas(result, rank):
        ax.plot(*_probe_series(result, dva, series), marker=".", label=dva)
    if log_scale:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def load_per_dva(result: Result, path: Path) -> Path:
    return _per_dva(result, path, "peak_rps", "rps", "Peak load per DVA (8 busiest)",
                    "requests/s in the busiest hour")


def latency(result: Result, path: Path) -> Path:
    return _per_dva(result, path, "p95_ms", "p95_ms", "Latency per DVA (8 slowest)",
                    "p95 latency in the busiest hour (ms)", log_scale=True)


def cost(result: Result, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 5))
    years = [y["year"] for y in result.years]
    lines = [k for k in result.years[0]["government_cost_eur"] if k != "total"]
    bottom = [0.0] * len(years)
    for line in lines:
        values = [y["government_cost_eur"][line] / 1e6 for y in result.years]
        if any(values):
            ax.bar(years, values, bottom=bottom, label=line.replace("_", " "))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("EUR million")
    ax.set_title("Government cost per year")
    ax.legend(fontsize=8)
    return _save(fig, path)


def write_all(result: Result, directory: Path) -> list[Path]:
    """The four plots of one run in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    return [adoption(result, directory / "adoption.png"),
            load_per_dva(result, directory / "load.png"),
            latency(result, directory / "latency.png"),
            cost(result, directory / "cost.png")]


def compare(results: list[tuple[str, Result]], path: Path) -> Path:
    """One figure, four panels, a line per scenario."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for name, result in results:
        years = [y["year"] for y in result.years]
        axes[0][0].plot(_dates(result), [v / 1e6 for v in result.series["users"]], label=name)
        axes[0][1].plot(years, [y["collections_per_day"] / 1e3 for y in result.years],
                        marker=".", label=name)
        axes[1][0].plot(years, [y["p95_ms_max"] for y in result.years], marker=".", label=name)
        axes[1][1].plot(years, [y["government_cost_eur"]["total"] / 1e6 for y in result.years],
                        marker=".", label=name)
    titles = ("PGO accounts (million)", "collections/day (thousand)",
              "worst DVA p95 latency (ms)", "government cost (EUR million/yr)")
    for ax, title in zip([a for row in axes for a in row], titles, strict=True):
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[1][0].set_yscale("log")
    axes[0][0].legend(fontsize=8)
    return _save(fig, path)


def fan(ax: plt.Axes, bands: dict[str, dict[str, float]], scale: float, label: str) -> None:
    """Median line with 80% and 95% bands on `ax`."""
    years = [int(y) for y in bands]
    get = {k: [bands[str(y)][k] / scale for y in years]
           for k in ("median", "p10", "p90", "p2_5", "p97_5")}
    ax.fill_between(years, get["p2_5"], get["p97_5"], alpha=0.15, color="C0", label="95%")
    ax.fill_between(years, get["p10"], get["p90"], alpha=0.3, color="C0", label="80%")
    ax.plot(years, get["median"], color="C0", marker=".", label=f"median {label}")
    ax.grid(alpha=0.3)


def tornado_axes(ax: plt.Axes, rows: list[dict[str, object]], title: str) -> None:
    """Horizontal bars of rank correlations, strongest on top."""
    rows = list(reversed(rows))
    ax.barh([str(r["key"]) for r in rows], [float(r["rho"]) for r in rows],  # type: ignore[arg-type]
            color=["C3" if float(r["rho"]) < 0 else "C2" for r in rows])  # type: ignore[arg-type]
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlim(-1, 1)
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="y", labelsize=8)


def uncertainty(spread: dict[str, object], directory: Path) -> list[Path]:
    """Fan charts (accounts, cost) with 80%/95% bands, and a tornado per headline output."""
    directory.mkdir(parents=True, exist_ok=True)
    bands = spread["bands"]
    fig, axes = plt.subplots(1, 4, figsize=(22, 5))
    fan(axes[0], bands["accounts_by_year"], 1e6, "accounts")  # type: ignore[index]
    axes[0].set_title("PGO accounts (million)")
    fan(axes[1], bands["cost_by_year"], 1e6, "cost")  # type: ignore[index]
    axes[1].set_title("Government cost (EUR million per year)")
    fan(axes[2], bands["iza_by_year"], 0.01, "IZA goal")  # type: ignore[index]
    axes[2].set_title("IZA goal: % of those who want one with a usable, well-filled PGO",
                      fontsize=9)
    fan(axes[3], bands["availability_by_year"], 0.01, "data availability")  # type: ignore[index]
    shown = [int(y) for y in bands["availability_by_year"]]  # type: ignore[index]
    for number, first, last in outcomes.PLATEAUS:  # the plateaus of 004:276-283
        if first > max(shown):
            continue
        axes[3].axvspan(first - 0.5, min(last, max(shown)) + 0.5, alpha=0.06 * number, color="grey")
    axes[3].set_title("Data availability (%), plateaus 1-3 shaded", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{spread['replications']} replications over the inferred ranges")
    paths = [_save(fig, directory / "uncertainty.png")]
    tornado = spread["tornado"]
    labels = spread["labels"]
    fig, axes = plt.subplots(1, len(tornado), figsize=(5 * len(tornado), 5))  # type: ignore[arg-type]
    for ax, (output, rows) in zip(np.atleast_1d(axes), tornado.items(), strict=True):  # type: ignore[attr-defined]
        tornado_axes(ax, rows, labels[output])  # type: ignore[index]
    fig.suptitle("Tornado: rank correlation of each inferred parameter with the output")
    fig.tight_layout()
    fig.savefig(directory / "tornado.png", dpi=100)
    plt.close(fig)
    paths.append(directory / "tornado.png")
    return paths
