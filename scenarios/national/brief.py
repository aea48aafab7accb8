"""A one-page policy brief of a run (`--brief out.pdf`), in Dutch and English (issue 19).

One A4 page (matplotlib's PdfPages, no extra dependency): the headline numbers with their 80%
and 95% intervals (from --replications; a single run says it has none), one chart (PGO accounts
with bands, Mijn Gezondheidsoverzicht separately), the history check against the observed EUR
8.1M, and the inferred assumptions that drive the result most.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from scenarios.national import accounting, plots  # noqa: E402
from scenarios.national.model import Result  # noqa: E402
from scenarios.national.presets import Preset  # noqa: E402

TEXT = {
    "nl": {"users_2025": "PGO-gebruikers 2025 (1x of meer opgehaald)",
           "accounts_last": "PGO-accounts {year}", "mgo_last": "Mijn Gezondheidsoverzicht {year}",
           "cost_last": "overheidskosten {year}", "cost_on": "overheidskosten vanaf 2025",
           "history": "Open House 2020-24: model {model}, gemeten {observed}",
           "single": "één run: geen intervallen (gebruik --replications)",
           "drivers": "Aannames die het meest uitmaken:", "interval": "80%: {a}; 95%: {b}",
           "iza": "IZA-doel {year} (bruikbaar, goed gevuld): {value}"},
    "en": {"users_2025": "PGO users 2025 (collected once or more)",
           "accounts_last": "PGO accounts {year}", "mgo_last": "Mijn Gezondheidsoverzicht {year}",
           "cost_last": "government cost {year}", "cost_on": "government cost from 2025",
           "history": "Open House 2020-24: model {model}, observed {observed}",
           "single": "one run: no intervals (use --replications)",
           "drivers": "Assumptions that matter most:", "interval": "80%: {a}; 95%: {b}",
           "iza": "IZA goal {year} (usable, well-filled): {value}"},
}


def _num(key: str, v: float) -> str:
    if key.startswith("cost"):
        return f"EUR {v / 1e6:.1f}M"
    return f"{v / 1e6:.2f}M" if abs(v) >= 1e5 else f"{v:,.0f}"


def headline_rows(result: Result, spread: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(text key, value, interval) per headline; values from the ensemble when there is one."""
    years = {y["year"]: y for y in result.years}
    last = result.years[-1]
    single = {
        "year_users_2025": float(years[2025]["year_users"]) if 2025 in years else None,
        "accounts_last": float(last["users"]), "mgo_users_last": float(last["mgo_users"]),
        "cost_last": float(last["government_cost_eur"]["total"]),
        "cost_2025_on": sum(float(y["government_cost_eur"]["total"]) for y in result.years
                            if y["year"] >= 2025)}
    names = {"year_users_2025": "users_2025", "accounts_last": "accounts_last",
             "mgo_users_last": "mgo_last", "cost_last": "cost_last", "cost_2025_on": "cost_on"}
    rows = []
    for key, text in names.items():
        if spread is not None:
            s = spread["summary"][key]
            if not s["n"]:
                continue
            rows.append((text, _num(key, s["median"]),
                         f"{_num(key, s['p10'])}-{_num(key, s['p90'])}|"
                         f"{_num(key, s['p2_5'])}-{_num(key, s['p97_5'])}"))
        elif single[key] is not None:
            rows.append((text, _num(key, float(single[key])), ""))  # type: ignore[arg-type]
    return rows


def _column(fig: plt.Figure, x: float, lang: str, preset: Preset, result: Result,
            spread: dict[str, Any] | None) -> None:
    t = TEXT[lang]
    year = result.years[-1]["year"]
    question = preset.question if lang == "en" else (preset.question_nl or preset.question)
    lines = [(preset.name, 11, "bold"), (question, 8, "normal")]
    for text, value, interval in headline_rows(result, spread):
        lines.append((f"{t[text].format(year=year)}: {value}", 8.5, "bold"))
        if interval:
            a, b = interval.split("|")
            lines.append(("   " + t["interval"].format(a=a, b=b), 8, "normal"))
    for key, y in (("iza_2025", 2025), ("iza_last", year)):
        if spread is not None and spread["summary"][key]["n"]:
            s = spread["summary"][key]
            value = f"{s['median']:.1%} (80%: {s['p10']:.1%}-{s['p90']:.1%})"
        else:
            match = [r for r in result.years if r["year"] == y]
            if not match:
                continue
            value = f"{match[0]['iza']['share']:.1%}"
        lines.append((t["iza"].format(year=y, value=value), 8, "normal"))
    if spread is None:
        lines.append((t["single"], 8, "italic"))
    hist = accounting.historic_lines(result.config, result.years)
    if hist["open_house_model_eur"] is not None:
        lines.append((t["history"].format(model=_num("cost", hist["open_house_model_eur"]),
                                          observed=_num("cost", 8.1e6)), 8, "normal"))
    if spread is not None:
        lines.append((t["drivers"], 9, "bold"))
        for row in spread["tornado"].get("accounts_last", [])[:3]:
            lines.append((f"  {row['key']} (rho {row['rho']:+.2f})", 8, "normal"))
        for row in spread["tornado"].get("cost_last", [])[:2]:
            lines.append((f"  {row['key']} (rho {row['rho']:+.2f}, cost)", 8, "normal"))
    y = 0.95
    for text, size, weight in lines:
        style = "italic" if weight == "italic" else "normal"
        fig.text(x, y, text, fontsize=size, fontweight="bold" if weight == "bold" else "normal",
                 style=style, va="top", wrap=True)
        y -= 0.022 if size < 10 else 0.028


def chart(ax: plt.Axes, preset: Preset, result: Result, spread: dict[str, Any] | None) -> None:
    """PGO accounts in millions per year (with bands when there are replications), MGO
    separately; the title names scenario and seed, every year has a tick, and the legend
    lists only lines that were drawn (no MGO entry in a run without it)."""
    years = [y["year"] for y in result.years]
    if spread is not None:
        plots.fan(ax, spread["bands"]["accounts_by_year"], 1e6, "accounts")
    else:
        ax.plot(years, [y["users"] / 1e6 for y in result.years], marker=".",
                label="PGO-accounts / PGO accounts")
        ax.grid(alpha=0.3)
    if any(y["mgo_users"] for y in result.years):  # no flat zero line for a run without MGO
        ax.plot(years, [y["mgo_users"] / 1e6 for y in result.years], linestyle="--",
                color="C1", label="Mijn Gezondheidsoverzicht (publieke dienst / public service)")
    plots.int_years_axis(ax, years)
    plots.plain_axis(ax, "en")
    ax.set_ylabel("miljoen / million")
    ax.set_title(f"PGO-accounts / PGO accounts (miljoen / million)\n{preset.name}, seed "
                 f"{result.seed}")
    plots.legend(ax, outside=False, loc="upper left")


def write(path: Path, preset: Preset, result: Result, spread: dict[str, Any] | None) -> Path:
    """Write the one-page brief to `path` (PDF)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = plt.figure(figsize=(8.27, 11.69))  # A4 portrait
    fig.text(0.05, 0.985, "Beleidsbrief / Policy brief - nationaal PGO-model", fontsize=13,
             fontweight="bold", va="top")
    _column(fig, 0.05, "nl", preset, result, spread)
    _column(fig, 0.52, "en", preset, result, spread)
    ax = fig.add_axes((0.1, 0.08, 0.85, 0.38))
    chart(ax, preset, result, spread)
    fig.text(0.05, 0.02, "Bronnen / sources: ../shared/policy/ (file:line per number: "
             "pgo-sandbox simulate --assumptions). Inferred numbers carry ranges.", fontsize=7)
    with PdfPages(path) as pdf:
        pdf.savefig(fig)
    plt.close(fig)
    return path
