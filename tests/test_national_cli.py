"""`pgo-sandbox simulate` through register() on a throwaway Typer app, and --calibrate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from scenarios.national import calibration
from scenarios.national.cli import register

LOADRUN = Path(__file__).with_name("test_national_loadrun.json")
QUICK = ["--years", "1", "--seed", "3", "--window-requests", "20"]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Stands in for the project CLI."""

    register(app)
    return app


def test_help_explains_and_shows_an_example(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["simulate", "--help"])
    assert result.exit_code == 0
    assert "pgo-sandbox simulate --scenario" in result.output
    assert "--compare" in result.output and "--calibrate" in result.output


def test_list_shows_presets(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["simulate", "--list"])
    assert result.exit_code == 0
    for name in ("growth-care-process", "medelkaar-central", "ehds-opt-out", "inspection-on"):
        assert name in result.output


def test_run_writes_json_and_plots(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["simulate", "--scenario", "growth-care-process", *QUICK,
                                      "--json", str(out), "--plots", str(tmp_path / "png"),
                                      "--calibrate", str(LOADRUN)])
    assert result.exit_code == 0, result.output
    assert "2023" in result.output and "events/s" in result.output
    assert "calibrated service times" in result.output
    data = json.loads(out.read_text())
    assert data["scenario"] == "growth-care-process" and data["seed"] == 3
    assert data["service_times"]["search"]["median_ms"] < 20  # measured, not the default
    assert data["assumptions"] and data["sources"]
    assert {"users", "active_users", "collections_per_day", "government_cost_eur",
            "integrations", "dva"} <= set(data["years"][0])
    pngs = sorted(p.name for p in (tmp_path / "png").glob("*.png"))
    assert pngs == ["adoption.png", "cost.png", "latency.png", "load.png"]


def test_compare_puts_scenarios_side_by_side(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--compare", "inspection-on",
                                      "inspection-off", *QUICK, "--plots", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "inspection-on" in result.output and "inspection-off" in result.output
    assert (tmp_path / "compare.png").stat().st_size > 0


def test_unknown_scenario_is_a_usage_error(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["simulate", "--scenario", "nope"])
    assert result.exit_code == 2
    assert "unknown scenario" in result.output


def test_calibration_reads_searches_token_and_flow() -> None:
    service = calibration.load(LOADRUN)
    assert 12.0 < service.search.median_ms < 18.0  # request-weighted blend of the searches
    assert service.search.p95_ms > service.search.median_ms
    assert service.token.median_ms == pytest.approx(4.0)
    assert 6.0 < service.flow.median_ms < 9.0


def test_calibration_is_defensive(tmp_path: Path) -> None:
    partial = {"steps": {"search Condition": {"mean_ms": 20}, "token": "broken",
                         "search Flag": {"p50_ms": None}, "other": {"p50_ms": 3}}}
    service = calibration.service_times(partial)
    assert service.search.median_ms == pytest.approx(20.0)
    assert service.token.median_ms == 15.0  # kept the default
    for bad in ({}, {"steps": []}, {"steps": {"token": {"p50_ms": 4}}}):
        with pytest.raises(calibration.CalibrationError):
            calibration.service_times(bad)
    garbage = tmp_path / "x.json"
    garbage.write_text("{not json")
    with pytest.raises(calibration.CalibrationError):
        calibration.load(garbage)
