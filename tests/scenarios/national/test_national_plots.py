"""Plots and console tables for policy audiences (issue 15 item 7).

Titles name scenario and seed, y axes are in plain units, every year has a tick, events
(bankruptcies, launches) are labelled, legends list only drawn artists, labels come in Dutch
with --lang nl, and the console tables fit a 100-column terminal without cutting text.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import typer
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from rich.console import Console
from typer.testing import CliRunner

from scenarios.national import brief, model, plots, presets, report, uncertainty
from scenarios.national.cli import register

SEED = 7
SCENARIO = "growth-care-process"


def _run(name: str, years: int) -> model.Result:
    config = dataclasses.replace(presets.get(name).config, years=years, window_requests=20)
    return model.run(config, SEED)


@pytest.fixture(scope="module")
def result() -> model.Result:
    return _run(SCENARIO, 10)


@pytest.fixture(scope="module")
def spread() -> dict[str, object]:
    config = dataclasses.replace(presets.get(SCENARIO).config, years=6, window_requests=20)
    return uncertainty.ensemble(config, 3, SEED, 1)


@pytest.fixture
def figures(result: model.Result) -> Iterator[dict[str, Figure]]:
    built: dict[str, Figure] = {}
    for lang in plots.LANGS:
        for name, build in plots.FIGURES.items():
            built[f"{lang}/{name}"] = build(result, SCENARIO, lang)
    yield built
    plt.close("all")


def _titles(fig: Figure) -> list[str]:
    found = [ax.get_title() for ax in fig.axes if ax.get_title()]
    if fig._suptitle is not None:  # noqa: SLF001  (no public getter before matplotlib 3.8)
        found.append(fig._suptitle.get_text())  # noqa: SLF001
    return found


def _tick_labels(ax: Axes, axis: str = "x") -> list[str]:
    ax.figure.canvas.draw()
    which = ax.xaxis if axis == "x" else ax.yaxis
    return [t.get_text() for minor in (False, True) for t in which.get_ticklabels(minor=minor)
            if t.get_text() and t.get_visible()]


def _texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)


def test_titles_name_scenario_and_seed(figures: dict[str, Figure], result: model.Result,
                                       spread: dict[str, object]) -> None:
    for name, fig in figures.items():
        (title,) = _titles(fig)
        assert SCENARIO in title and f"seed {SEED}" in title, (name, title)
    other = _run("inspection-on", 3)
    compare = plots.compare_figure([(SCENARIO, result), ("inspection-on", other)])
    (title,) = [t for t in _titles(compare) if "compared" in t]
    assert SCENARIO in title and "inspection-on" in title and f"seed {SEED}" in title
    for fig in plots.uncertainty_figures(spread, SCENARIO):
        assert any(SCENARIO in t and f"seed {SEED}" in t for t in _titles(fig))
    plt.close("all")


PLAIN = re.compile(r"^−?[0-9][0-9.,]*$")  # 0.5, 1,000, 3,5: no 10^2, 1e6, ×, offset


def test_y_axes_are_in_plain_units(figures: dict[str, Figure]) -> None:
    expected = {"adoption.png": ("million persons", "miljoen personen"),
                "cost.png": ("million euro", "miljoen euro"),
                "latency.png": ("(ms)", "(ms)"),
                "load.png": ("requests per second", "verzoeken per seconde")}
    for name, fig in figures.items():
        lang, png = name.split("/")
        ax = fig.axes[0]
        assert expected[png][lang == "nl"] in ax.get_ylabel(), (name, ax.get_ylabel())
        labels = _tick_labels(ax, "y")
        assert labels and all(PLAIN.match(t) for t in labels), (name, labels)
        assert not ax.yaxis.get_offset_text().get_text(), name
    latency = figures["en/latency.png"].axes[0]
    assert latency.get_yscale() == "log"
    assert {"100", "200", "500"} & set(_tick_labels(latency, "y"))  # ms, not 10^2


def test_every_year_has_a_tick(figures: dict[str, Figure], result: model.Result) -> None:
    years = {str(y["year"]) for y in result.years}
    assert len(years) == 10
    for name, fig in figures.items():
        assert years <= set(_tick_labels(fig.axes[0])), name
    brief_fig, ax = plt.subplots()
    brief.chart(ax, presets.get(SCENARIO), result, None)
    assert years <= set(_tick_labels(ax))
    plt.close(brief_fig)


def test_events_are_labelled(figures: dict[str, Figure], result: model.Result) -> None:
    assert result.events, "the preset has bankruptcies (pgo-05 in 2025 at least)"
    for name in ("adoption.png", "load.png", "latency.png"):
        texts = _texts(figures[f"en/{name}"])
        for event in result.events:
            assert f"{event['date']}  " in texts and f"{event['vendor']} bankrupt" in texts
        assert "tender starts" in texts  # a launch: the three contracted PGOs
        numbers = [t for t in figures[f"en/{name}"].axes[0].texts if t.get_text().isdigit()]
        assert len(numbers) == len(plots.markers(result))  # each line carries its number
    mgo = _run("inspection-on", 10)
    events = plots.markers(mgo)
    assert any(m.kind == "launch" and "Mijn Gezondheidsoverzicht live" in m.label
               for m in events)
    assert all(mgo.config.start_year <= m.when.year < 2030 for m in events)
    assert len({m.when for m in events}) == len(events)  # same day: one line, joined labels
    fig = plots.adoption_figure(mgo, "inspection-on")
    assert "Mijn Gezondheidsoverzicht live" in _texts(fig)
    plt.close(fig)


def _check_legend(ax: Axes, where: str) -> None:
    handles, labels = ax.get_legend_handles_labels()
    legend = ax.get_legend()
    if legend is None:
        return
    shown = [t.get_text() for t in legend.get_texts()]
    assert shown, where
    for label in shown:
        assert label and not label.startswith("_"), (where, label)
        assert label in labels, (where, label)  # the entry stands for an artist on the axes
        handle = handles[labels.index(label)]
        assert plots._drawn(handle), (where, label)  # noqa: SLF001


def test_legends_list_only_drawn_artists(figures: dict[str, Figure], result: model.Result,
                                         spread: dict[str, object]) -> None:
    for name, fig in figures.items():
        for ax in fig.axes:
            _check_legend(ax, name)
        assert fig.axes[0].get_legend() is not None, name
    for fig in plots.uncertainty_figures(spread, SCENARIO):
        for ax in fig.axes:
            _check_legend(ax, "uncertainty")
    fig, (empty, mixed) = plt.subplots(1, 2)
    empty.plot([], [], label="nothing")
    plots.legend(empty)
    assert empty.get_legend() is None  # no legend box with a stray entry
    mixed.plot([], [], label="nothing")
    mixed.plot([1, 2], [float("nan")] * 2, label="all gaps")
    mixed.plot([1, 2], [1, 2], label="drawn")
    plots.legend(mixed)
    assert [t.get_text() for t in mixed.get_legend().get_texts()] == ["drawn"]
    plt.close(fig)
    fig, ax = plt.subplots()
    brief.chart(ax, presets.get(SCENARIO), result, None)  # no MGO in this preset
    assert not any("Gezondheidsoverzicht" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)


def test_dutch_labels(figures: dict[str, Figure]) -> None:
    adoption = figures["nl/adoption.png"]
    ax = adoption.axes[0]
    assert ax.get_title().startswith("Gebruik van PGO's")
    assert ax.get_ylabel() == "miljoen personen"
    assert "failliet" in _texts(adoption) and "aanbesteding start" in _texts(adoption)
    assert "PGO-accounts" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("," in t for t in _tick_labels(ax, "y"))  # decimal comma: 0,5
    assert figures["nl/cost.png"].axes[0].get_title().startswith("Kosten voor de overheid")
    assert "bankrupt" not in _texts(adoption)
    with pytest.raises(ValueError):
        plots.text("fr", "adoption")


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Stands in for the project CLI."""

    register(app)
    return app


def test_cli_lang_option_and_100_columns(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--scenario", SCENARIO, "--years", "6",
                                      "--seed", "3", "--window-requests", "20", "--lang", "nl",
                                      "--plots", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(plots.FIGURES)
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= 100, max(lines, key=len)
    assert "…" not in result.output
    bad = CliRunner().invoke(app, ["simulate", "--lang", "fr", "--years", "1"])
    assert bad.exit_code == 2 and "--lang" in bad.output


def test_console_tables_fit_100_columns(result: model.Result,
                                        spread: dict[str, object]) -> None:
    preset = presets.get(SCENARIO)
    names = ["medelkaar-carry-on", "medelkaar-shared", "medelkaar-central", "inspection-off"]
    tables = {
        "year": report.year_table(result, f"{preset.name}: {preset.question}"),
        "dva": report.dva_table(result), "history": report.history_table(result, preset),
        "outcome": report.outcome_table(result), "plateau": report.plateau_table(result),
        "segment": report.segment_table(result),
        "compare": report.compare_table([(n, result) for n in names]),
        "assumptions": report.assumptions_table(),
        "uncertainty": report.uncertainty_table(spread, preset.name),
        "iza": report.iza_band_table(spread), "tornado": report.tornado_table(spread)}
    for name, table in tables.items():
        console = Console(width=100, record=True)
        console.print(table)
        text = console.export_text()
        assert max(map(len, text.splitlines())) <= 100, name
        assert "…" not in text, (name, [line for line in text.splitlines() if "…" in line])
        if name == "year":  # split in two, every column still there
            for header in ("accounts", "collects", "p95 ms", "time-outs", "integrations"):
                assert header in text, header
    history = Console(width=100, record=True)
    history.print(tables["history"])
    assert "001:259" in history.export_text()  # short citations keep the table narrow
