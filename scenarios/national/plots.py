"""PNG plots of a national run for policy audiences: adoption, load per DVA, latency, cost.

matplotlib with the Agg backend: no display needed, same pixels on every machine. A trainer
shows these to policy makers, so every figure says which scenario and seed it is (a number
without its run cannot be traced), uses plain units (millions, ms, euro; no 6x10^2), puts
every year on the time axis, labels the events that explain a bend in a line (bankruptcies,
launches, policy changes) and has only legend entries for something drawn. Labels come in
English or Dutch (`lang`, `pgo-sandbox simulate --lang nl`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: must precede pyplot's import
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.artist import Artist  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from scenarios.national import outcomes  # noqa: E402
from scenarios.national.model import Result  # noqa: E402

LANGS = ("en", "nl")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "seed": "seed", "adoption": "PGO adoption", "million_persons": "million persons",
        "accounts": "PGO accounts", "consent": "consent live (26 weeks)",
        "active": "active (collected in the last 4 weeks)",
        "mgo": "Mijn Gezondheidsoverzicht users (public service)",
        "load": "Peak load per DVA (8 busiest)", "rps": "requests per second, busiest hour",
        "latency": "Latency per DVA (8 slowest)",
        "p95": "p95 latency in the busiest hour (ms)",
        "cost": "Government cost per year", "million_eur": "million euro",
        "per_active_user": "per active user (Open House)", "lump_sums": "lump sums 2021",
        "tender": "tender (3 contracted PGOs)",
        "inspection_function": "Mijn Gezondheidsoverzicht",
        "shared_components": "shared components", "central_pgo": "central PGO",
        "total": "total",
        "compare": "Scenarios compared", "c_accounts": "PGO accounts (million)",
        "c_collects": "collections per day (thousand)",
        "c_latency": "worst DVA p95 latency (ms)", "c_cost": "government cost (million euro/yr)",
        "bankruptcy": "{vendor} bankrupt ({users} users)",
        "market exit": "{vendor} leaves the market ({users} users)",
        "ev_bankruptcy": "bankruptcy / exit", "ev_launch": "launch", "ev_policy": "policy change",
        "new_vendor": "new PGO vendor", "mgo_live": "Mijn Gezondheidsoverzicht live",
        "central_live": "central PGO live", "shared_live": "shared components ready",
        "tender_start": "tender starts", "scheme_end": "per-user scheme ends",
        "levers": "scenario levers start", "opt_out": "EHDS opt-out",
        "u_title": "{n} replications over the inferred ranges",
        "u_accounts": "PGO accounts (million)", "u_cost": "Government cost (million euro/yr)",
        "u_iza": "IZA goal: % of those who want one with a usable, well-filled PGO",
        "u_avail": "Data availability (%), plateaus 1-3 shaded", "median": "median",
        "band95": "95% of runs", "band80": "80% of runs", "percent": "%",
        "tornado": "Tornado: rank correlation of each inferred parameter with the output",
    },
    "nl": {
        "seed": "seed", "adoption": "Gebruik van PGO's", "million_persons": "miljoen personen",
        "accounts": "PGO-accounts", "consent": "toestemming geldig (26 weken)",
        "active": "actief (opgehaald in de laatste 4 weken)",
        "mgo": "gebruikers Mijn Gezondheidsoverzicht (publieke dienst)",
        "load": "Piekbelasting per DVA (8 drukste)", "rps": "verzoeken per seconde, drukste uur",
        "latency": "Responstijd per DVA (8 traagste)",
        "p95": "p95-responstijd in het drukste uur (ms)",
        "cost": "Kosten voor de overheid per jaar", "million_eur": "miljoen euro",
        "per_active_user": "per actieve gebruiker (Open House)",
        "lump_sums": "vaste bedragen 2021", "tender": "aanbesteding (3 PGO's onder contract)",
        "inspection_function": "Mijn Gezondheidsoverzicht",
        "shared_components": "gezamenlijke voorzieningen", "central_pgo": "centrale PGO",
        "total": "totaal",
        "compare": "Scenario's vergeleken", "c_accounts": "PGO-accounts (miljoen)",
        "c_collects": "ophaalacties per dag (duizend)",
        "c_latency": "traagste DVA, p95-responstijd (ms)",
        "c_cost": "kosten overheid (miljoen euro/jaar)",
        "bankruptcy": "{vendor} failliet ({users} gebruikers)",
        "market exit": "{vendor} stopt ({users} gebruikers)",
        "ev_bankruptcy": "faillissement / vertrek", "ev_launch": "start",
        "ev_policy": "beleidswijziging",
        "new_vendor": "nieuwe PGO-leverancier", "mgo_live": "Mijn Gezondheidsoverzicht live",
        "central_live": "centrale PGO live", "shared_live": "gezamenlijke voorzieningen klaar",
        "tender_start": "aanbesteding start", "scheme_end": "vergoeding per gebruiker stopt",
        "levers": "scenariomaatregelen starten", "opt_out": "EHDS opt-out",
        "u_title": "{n} herhalingen over de geschatte bandbreedtes",
        "u_accounts": "PGO-accounts (miljoen)", "u_cost": "Kosten overheid (miljoen euro/jaar)",
        "u_iza": "IZA-doel: % van wie er een wil met een bruikbare, goed gevulde PGO",
        "u_avail": "Beschikbaarheid van gegevens (%), plateaus 1-3 gearceerd",
        "median": "mediaan", "band95": "95% van de runs", "band80": "80% van de runs",
        "percent": "%",
        "tornado": "Tornado: rangcorrelatie van elke geschatte parameter met de uitkomst",
    },
}

EVENT_COLOURS = {"bankruptcy": "C3", "launch": "C2", "policy": "0.35"}


def text(lang: str, key: str, **values: object) -> str:
    """A label in `lang` (en or nl); unknown keys fall back to the key itself."""
    if lang not in TEXT:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    return TEXT[lang].get(key, key.replace("_", " ")).format(**values)


def titled(what: str, scenario: str, seed: int, lang: str) -> str:
    """A title that names the run: scenario and seed, so a figure can be traced and redone."""
    return f"{what}\n{scenario}, {text(lang, 'seed')} {seed}"


def number(value: float, lang: str, decimals: int = 0) -> str:
    """Plain number with Dutch or English separators: 1,234.5 / 1.234,5."""
    s = f"{value:,.{decimals}f}"
    if lang == "nl":
        s = s.replace(",", "_").replace(".", ",").replace("_", ".")
    return s


def plain_axis(ax: Axes, lang: str) -> None:
    """y tick labels as plain numbers (0.5, 1.0, 1.5 / 0,5 ...): no offset, 1e6 or powers."""

    def fmt(v: float, _pos: int | None = None) -> str:
        ticks = ax.yaxis.get_majorticklocs()
        step = min((abs(b - a) for a, b in zip(ticks, ticks[1:], strict=False) if b != a),
                   default=1.0)
        return number(v, lang, max(0, -math.floor(math.log10(step))) if step < 1 else 0)

    ax.yaxis.set_major_formatter(FuncFormatter(fmt))


def _log_ms_axis(ax: Axes, lang: str) -> None:
    """Log scale with ticks at 1-2-5 steps written as plain milliseconds (200, 500, 1,000)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: number(v, lang, 0)))


def date_years_axis(ax: Axes, first: int, last: int) -> None:
    """Every year on a date axis: a grid line at 1 January, the year's label mid-year."""
    ax.set_xlim(date(first, 1, 1), date(last + 1, 1, 1))
    ax.xaxis.set_major_locator(mdates.YearLocator(1))
    ax.xaxis.set_major_formatter(NullFormatter())
    ax.xaxis.set_minor_locator(mdates.MonthLocator(bymonth=7, bymonthday=1))
    ax.xaxis.set_minor_formatter(mdates.DateFormatter("%Y"))
    ax.tick_params(axis="x", which="minor", length=0,
                   labelrotation=45 if last - first >= 16 else 0)


def int_years_axis(ax: Axes, years: list[int]) -> None:
    """Every year on an axis of whole years (bars, fans): one tick and label each."""
    ax.set_xticks(years, [str(y) for y in years])
    if len(years) > 16:
        ax.tick_params(axis="x", labelrotation=45)


@dataclass(frozen=True, slots=True)
class Marker:
    """An event that explains a bend in a line: when, what kind, and its label."""

    when: date
    kind: str  # bankruptcy | launch | policy
    label: str


def markers(result: Result, lang: str = "en") -> list[Marker]:
    """The run's events within its years: vendors leaving, launches and policy changes.

    Vendors leaving come from the run (`result.events`); launches and policy dates from its
    config (new vendors, MGO, central PGO, shared components, tender, end of the per-user
    scheme, scenario levers, EHDS opt-out). Events on the same day share one label.
    """
    cfg, fin = result.config, result.config.financing
    found: list[Marker] = []
    for e in result.events:
        key = e["kind"] if e["kind"] in ("bankruptcy", "market exit") else "bankruptcy"
        found.append(Marker(date.fromisoformat(e["date"]), "bankruptcy",
                            text(lang, key, vendor=e["vendor"],
                                 users=number(e["users"], lang))))
    found += [Marker(when, "launch", text(lang, "new_vendor")) for when in cfg.vendor_entries]
    if cfg.inspection:
        found.append(Marker(cfg.inspection_from, "launch", text(lang, "mgo_live")))
    if cfg.option == "central":
        found.append(Marker(cfg.central_from, "launch", text(lang, "central_live")))
    if cfg.option == "shared":
        found.append(Marker(date(max(fin.shared_build_years) + 1, 1, 1), "launch",
                            text(lang, "shared_live")))
    if fin.tender:
        found.append(Marker(date(fin.tender_from, 1, 1), "launch", text(lang, "tender_start")))
    if fin.per_user_scheme:
        found.append(Marker(date(fin.per_user_until + 1, 1, 1), "policy",
                            text(lang, "scheme_end")))
    if any(v != 1.0 for v in (cfg.lever_p, cfg.lever_q, cfg.session_factor,
                              cfg.connection_speed)):
        found.append(Marker(cfg.lever_from, "policy", text(lang, "levers")))
    if cfg.opt_out:
        found.append(Marker(cfg.opt_out_from, "policy", text(lang, "opt_out")))
    first, end = date(cfg.start_year, 1, 1), date(cfg.start_year + cfg.years, 1, 1)
    by_day: dict[date, Marker] = {}
    for m in sorted(found, key=lambda m: (m.when, m.kind)):
        if not first < m.when < end:
            continue
        if m.when in by_day:  # one line per day; a bankruptcy outranks a launch in colour
            old = by_day[m.when]
            by_day[m.when] = Marker(m.when, old.kind, f"{old.label}; {m.label}")
        else:
            by_day[m.when] = m
    return list(by_day.values())


def annotate(ax: Axes, events: list[Marker], lang: str) -> None:
    """A dotted vertical line per event, numbered above the axes, and a key under the plot.

    Events bunch up (a bankruptcy, the tender and the scenario levers all in early 2025), so
    the line carries only its number and the key spells out date and label in full. One
    legend entry per kind of event (colour), none for a kind that did not happen.
    """
    seen: set[str] = set()
    key: list[str] = []
    for number_, m in enumerate(events, start=1):
        colour = EVENT_COLOURS[m.kind]
        label = None if m.kind in seen else text(lang, f"ev_{m.kind}")
        seen.add(m.kind)
        ax.axvline(m.when, color=colour, linestyle=":", linewidth=1.2,  # type: ignore[arg-type]
                   label=label)
        ax.text(mdates.date2num(m.when), 1.005, str(number_), transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7, color=colour, fontweight="bold")
        key.append(f"{number_}  {m.when.isoformat()}  {m.label}")
    if key:  # one column: long Dutch labels would run into a second one
        ax.text(0.0, -0.09, "\n".join(key), transform=ax.transAxes, ha="left", va="top",
                fontsize=8)


def _drawn(artist: Artist) -> bool:
    """Whether a legend handle stands for something visible: data, not an empty line."""
    if isinstance(artist, Line2D):
        y = np.asarray(artist.get_ydata(), dtype=float)
        return len(y) > 0 and bool(np.isfinite(y).any())
    if isinstance(artist, BarContainer):
        return any(p.get_height() for p in artist.patches)
    return True


def legend(ax: Axes, outside: bool = True, **kwargs: object) -> None:
    """A legend of drawn artists only; none at all when nothing labelled was drawn."""
    handles, labels = ax.get_legend_handles_labels()
    kept = [(h, lab) for h, lab in zip(handles, labels, strict=True)
            if lab and not lab.startswith("_") and _drawn(h)]
    if not kept:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        return
    if outside:
        kwargs = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), **kwargs}
    ax.legend([h for h, _ in kept], [lab for _, lab in kept], fontsize=8,
              **kwargs)  # type: ignore[arg-type]


def _dates(result: Result) -> list[date]:
    return [date.fromisoformat(d) for d in result.series["date"]]


def _span(result: Result) -> tuple[int, int]:
    return result.config.start_year, result.config.start_year + result.config.years - 1


def save(fig: Figure, path: Path) -> Path:
    """Write a PNG at 100 dpi; the bounding box includes legends outside the axes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def adoption_figure(result: Result, scenario: str, lang: str = "en") -> Figure:
    """PGO accounts, live consent and active users (millions), MGO separately; events."""
    fig, ax = plt.subplots(figsize=(11, 5.5))
    days = _dates(result)
    for key, label in (("users", "accounts"), ("consent_live", "consent"),
                       ("active", "active")):
        ax.plot(days, [v / 1e6 for v in result.series[key]], label=text(lang, label))
    if any(result.series["mgo_users"]):  # a public service next to the PGOs: its own line
        ax.plot(days, [v / 1e6 for v in result.series["mgo_users"]], linestyle="--",
                label=text(lang, "mgo"))
    ax.set_ylabel(text(lang, "million_persons"))
    ax.set_ylim(bottom=0)
    plain_axis(ax, lang)
    ax.set_title(titled(text(lang, "adoption"), scenario, result.seed, lang), pad=14)
    date_years_axis(ax, *_span(result))
    annotate(ax, markers(result, lang), lang)
    ax.grid(alpha=0.3)
    legend(ax)
    fig.tight_layout()
    return fig


def _top_dvas(result: Result, key: str, n: int = 8) -> list[str]:
    last = result.years[-1]["dva"]
    return sorted(last, key=lambda name: -last[name][key])[:n]


def _probe_series(result: Result, dva: str, key: str,
                  positive: bool) -> tuple[list[date], list[float]]:
    """A DVA's peak-window values; on a log axis a zero (no requests) is a gap, not a dive."""
    rows = [p for p in result.probes if p["dva"] == dva]
    values = [float(p[key]) for p in rows]
    if positive:
        values = [v if v > 0 else math.nan for v in values]
    return [date.fromisoformat(p["period_end"]) for p in rows], values


def _per_dva_figure(result: Result, scenario: str, lang: str, rank: str, series: str,
                    title: str, ylabel: str, log_ms: bool = False) -> Figure:
    fig, ax = plt.subplots(figsize=(11, 5.5))
    for dva in _top_dvas(result, rank):
        days, values = _probe_series(result, dva, series, positive=log_ms)
        if days and any(math.isfinite(v) for v in values):  # no data, no line, no entry
            ax.plot(days, values, marker=".", label=dva)
    if log_ms:
        _log_ms_axis(ax, lang)
    else:
        ax.set_ylim(bottom=0)
        plain_axis(ax, lang)
    ax.set_ylabel(text(lang, ylabel))
    ax.set_title(titled(text(lang, title), scenario, result.seed, lang), pad=14)
    date_years_axis(ax, *_span(result))
    annotate(ax, markers(result, lang), lang)
    ax.grid(alpha=0.3)
    legend(ax)
    fig.tight_layout()
    return fig


def load_figure(result: Result, scenario: str, lang: str = "en") -> Figure:
    """Requests per second in the busiest hour, the 8 busiest DVAs."""
    return _per_dva_figure(result, scenario, lang, "peak_rps", "rps", "load", "rps")


def latency_figure(result: Result, scenario: str, lang: str = "en") -> Figure:
    """p95 latency in ms on a log axis with plain tick labels, the 8 slowest DVAs."""
    return _per_dva_figure(result, scenario, lang, "p95_ms", "p95_ms", "latency", "p95",
                           log_ms=True)


def cost_figure(result: Result, scenario: str, lang: str = "en") -> Figure:
    """Stacked bars per cost line in million euro, the total written above each year."""
    fig, ax = plt.subplots(figsize=(11, 5.5))
    years = [y["year"] for y in result.years]
    lines = [k for k in result.years[0]["government_cost_eur"] if k != "total"]
    bottom = [0.0] * len(years)
    for line in lines:
        values = [y["government_cost_eur"][line] / 1e6 for y in result.years]
        if any(values):
            ax.bar(years, values, bottom=bottom, label=text(lang, line))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for year, total in zip(years, bottom, strict=True):  # a zero year reads "0", not missing
        ax.annotate(f"€{number(total, lang, 1)}M" if lang == "en"
                    else f"€ {number(total, lang, 1)} mln", (year, total),
                    xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8)
    ax.set_ylabel(text(lang, "million_eur"))
    ax.set_ylim(0, max(max(bottom), 0.1) * 1.12)
    plain_axis(ax, lang)
    ax.set_title(titled(text(lang, "cost"), scenario, result.seed, lang), pad=14)
    int_years_axis(ax, years)
    ax.grid(alpha=0.3, axis="y")
    legend(ax)
    fig.tight_layout()
    return fig


FIGURES = {"adoption.png": adoption_figure, "load.png": load_figure,
           "latency.png": latency_figure, "cost.png": cost_figure}


def write_all(result: Result, directory: Path, scenario: str = "custom",
              lang: str = "en") -> list[Path]:
    """The four plots of one run in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    return [save(build(result, scenario, lang), directory / name)
            for name, build in FIGURES.items()]


# kept for callers of the one-figure functions
def adoption(result: Result, path: Path, scenario: str = "custom", lang: str = "en") -> Path:
    return save(adoption_figure(result, scenario, lang), path)


def load_per_dva(result: Result, path: Path, scenario: str = "custom", lang: str = "en") -> Path:
    return save(load_figure(result, scenario, lang), path)


def latency(result: Result, path: Path, scenario: str = "custom", lang: str = "en") -> Path:
    return save(latency_figure(result, scenario, lang), path)


def cost(result: Result, path: Path, scenario: str = "custom", lang: str = "en") -> Path:
    return save(cost_figure(result, scenario, lang), path)


def compare_figure(results: list[tuple[str, Result]], lang: str = "en") -> Figure:
    """One figure, four panels, a line per scenario; the seed in the title."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    first = min(r.config.start_year for _, r in results)
    last = max(r.config.start_year + r.config.years - 1 for _, r in results)
    for name, result in results:
        years = [y["year"] for y in result.years]
        axes[0][0].plot(_dates(result), [v / 1e6 for v in result.series["users"]], label=name)
        axes[0][1].plot(years, [y["collections_per_day"] / 1e3 for y in result.years],
                        marker=".", label=name)
        axes[1][0].plot(years, [y["p95_ms_max"] for y in result.years], marker=".", label=name)
        axes[1][1].plot(years, [y["government_cost_eur"]["total"] / 1e6 for y in result.years],
                        marker=".", label=name)
    titles = ("c_accounts", "c_collects", "c_latency", "c_cost")
    for ax, key in zip([a for row in axes for a in row], titles, strict=True):
        ax.set_title(text(lang, key))
        ax.grid(alpha=0.3)
        if ax is not axes[1][0]:
            plain_axis(ax, lang)
    date_years_axis(axes[0][0], first, last)
    for ax in (axes[0][1], axes[1][0], axes[1][1]):
        int_years_axis(ax, list(range(first, last + 1)))
    _log_ms_axis(axes[1][0], lang)
    legend(axes[0][0], outside=False, loc="upper left")
    seeds = sorted({r.seed for _, r in results})
    fig.suptitle(f"{text(lang, 'compare')}: {', '.join(n for n, _ in results)}; "
                 f"{text(lang, 'seed')} {', '.join(map(str, seeds))}")
    fig.tight_layout()
    return fig


def compare(results: list[tuple[str, Result]], path: Path, lang: str = "en") -> Path:
    """The comparison figure as a PNG."""
    return save(compare_figure(results, lang), path)


def fan(ax: Axes, bands: dict[str, dict[str, float]], scale: float, label: str,
        lang: str = "en") -> None:
    """Median line with 80% and 95% bands on `ax`, every year on the axis."""
    years = [int(y) for y in bands]
    get = {k: [bands[str(y)][k] / scale for y in years]
           for k in ("median", "p10", "p90", "p2_5", "p97_5")}
    ax.fill_between(years, get["p2_5"], get["p97_5"], alpha=0.15, color="C0",
                    label=text(lang, "band95"))
    ax.fill_between(years, get["p10"], get["p90"], alpha=0.3, color="C0",
                    label=text(lang, "band80"))
    ax.plot(years, get["median"], color="C0", marker=".",
            label=f"{text(lang, 'median')} {label}".strip())
    int_years_axis(ax, years)
    plain_axis(ax, lang)
    ax.grid(alpha=0.3)


def tornado_axes(ax: Axes, rows: list[dict[str, object]], title: str) -> None:
    """Horizontal bars of rank correlations, strongest on top."""
    rows = list(reversed(rows))
    ax.barh([str(r["key"]) for r in rows], [float(r["rho"]) for r in rows],  # type: ignore[arg-type]
            color=["C3" if float(r["rho"]) < 0 else "C2" for r in rows])  # type: ignore[arg-type]
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlim(-1, 1)
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="y", labelsize=8)


def uncertainty_figures(spread: dict[str, object], scenario: str = "custom",
                        lang: str = "en") -> tuple[Figure, Figure]:
    """Fan charts (accounts, cost, IZA goal, availability) and a tornado per headline."""
    bands = spread["bands"]
    seed = int(spread.get("seed", 1))  # type: ignore[call-overload]
    fig, axes = plt.subplots(1, 4, figsize=(22, 5.5))
    fan(axes[0], bands["accounts_by_year"], 1e6, "accounts", lang)  # type: ignore[index]
    axes[0].set_title(text(lang, "u_accounts"))
    axes[0].set_ylabel(text(lang, "million_persons"))
    fan(axes[1], bands["cost_by_year"], 1e6, "cost", lang)  # type: ignore[index]
    axes[1].set_title(text(lang, "u_cost"))
    axes[1].set_ylabel(text(lang, "million_eur"))
    fan(axes[2], bands["iza_by_year"], 0.01, "IZA", lang)  # type: ignore[index]
    axes[2].set_title(text(lang, "u_iza"), fontsize=9)
    axes[2].set_ylabel(text(lang, "percent"))
    fan(axes[3], bands["availability_by_year"], 0.01, "", lang)  # type: ignore[index]
    axes[3].set_ylabel(text(lang, "percent"))
    shown = [int(y) for y in bands["availability_by_year"]]  # type: ignore[index]
    for plateau, first, last in outcomes.PLATEAUS:  # the plateaus of 004:276-283
        if first > max(shown):
            continue
        axes[3].axvspan(first - 0.5, min(last, max(shown)) + 0.5, alpha=0.06 * plateau,
                        color="grey")
    axes[3].set_title(text(lang, "u_avail"), fontsize=9)
    legend(axes[0], outside=False, loc="upper left")
    fig.suptitle(titled(text(lang, "u_title", n=spread["replications"]), scenario, seed, lang))
    fig.tight_layout()
    tornado = spread["tornado"]
    labels = spread["labels"]
    fig2, axes2 = plt.subplots(1, len(tornado), figsize=(5 * len(tornado), 5))  # type: ignore[arg-type]
    for ax, (output, rows) in zip(np.atleast_1d(axes2), tornado.items(), strict=True):  # type: ignore[attr-defined]
        tornado_axes(ax, rows, labels[output])  # type: ignore[index]
    fig2.suptitle(titled(text(lang, "tornado"), scenario, seed, lang))
    fig2.tight_layout()
    return fig, fig2


def uncertainty(spread: dict[str, object], directory: Path, scenario: str = "custom",
                lang: str = "en") -> list[Path]:
    """uncertainty.png (fans with 80%/95% bands) and tornado.png in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    fans, tornado = uncertainty_figures(spread, scenario, lang)
    return [save(fans, directory / "uncertainty.png"), save(tornado, directory / "tornado.png")]
