"""`pgo-sandbox simulate` through register() on a throwaway Typer app: runs, --assumptions,
--service-times, --calibrate, --replications, the --bankrupt drill and --brief."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from scenarios.national import assumptions, calibration
from scenarios.national.cli import register

LOADRUN = Path(__file__).with_name("test_national_loadrun.json")
QUICK = ["--years", "6", "--seed", "3", "--window-requests", "20"]


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
    for flag in ("--compare", "--calibrate", "--assumptions", "--replications", "--bankrupt",
                 "--brief", "--service-times"):
        assert flag in result.output


def test_list_shows_presets(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["simulate", "--list"])
    assert result.exit_code == 0
    for name in ("growth-care-process", "medelkaar-central", "ehds-opt-out", "inspection-on"):
        assert name in result.output


def test_run_writes_json_and_plots(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["simulate", "--scenario", "growth-care-process", *QUICK,
                                      "--json", str(out), "--plots", str(tmp_path / "png"),
                                      "--service-times", str(LOADRUN)])
    assert result.exit_code == 0, result.output
    assert "2023" in result.output and "events/s" in result.output
    assert "measured service times" in result.output
    assert "open_house_total_eur" in result.output  # history vs observation in the console
    data = json.loads(out.read_text())
    assert data["scenario"] == "growth-care-process" and data["seed"] == 3
    assert data["service_times"]["search"]["median_ms"] < 20  # measured, not the default
    assert data["assumptions"] and data["sources"]
    register = {a["key"]: a for a in data["assumptions_register"]}
    assert register["financing.per_user_eur"]["citation"].endswith("002_f82fcbbf2919e269.txt:62")
    assert data["historic_lines"]["open_house_2020_2024_observed_eur"] == 8.1e6
    assert data["forecast_check_2025_users"]["band"] == [1e6, 2e6]
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


def test_assumptions_prints_the_register(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    result = CliRunner().invoke(app, ["simulate", "--assumptions", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "002_f82fcbbf2919e269.txt:62" in result.output  # EUR 7.50, cited by line
    assert "inferred" in result.output and "fitted" in result.output
    keys = {a["key"] for a in json.loads(out.read_text())["assumptions"]}
    assert keys == {a.key for a in assumptions.REGISTER}


def test_bankrupt_drill_reports_who_loses_access(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    result = CliRunner().invoke(app, ["simulate", "--scenario", "inspection-off", *QUICK,
                                      "--bankrupt", "pgo-03", "--on", "2025-09-01",
                                      "--migrate-share", "0.5", "--curator-window", "30",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    (event,) = [e for e in json.loads(out.read_text())["events"] if e["vendor"] == "pgo-03"]
    assert event["date"] == "2025-09-01" and event["window_days"] == 30
    assert event["lose_access_for_good"] >= event["dropped"] > 0
    assert event["reconsents_at_dvas"] > 0 and event["contracted"]
    assert "pgo-03" in result.output and "lose access" in result.output
    for bad in (["--bankrupt", "pgo-03"], ["--bankrupt", "pgo-03", "--on", "soon"],
                ["--bankrupt", "nobody", "--on", "2025-09-01"], ["--on", "2025-09-01"]):
        failed = CliRunner().invoke(app, ["simulate", *QUICK, *bad])
        assert failed.exit_code == 2, bad


def test_replications_give_intervals_plots_and_a_brief(app: typer.Typer, tmp_path: Path) -> None:
    out, pdf = tmp_path / "u.json", tmp_path / "brief.pdf"
    result = CliRunner().invoke(app, ["simulate", "--scenario", "inspection-off", *QUICK,
                                      "--replications", "3", "--cores", "1", "--json", str(out),
                                      "--plots", str(tmp_path / "png"), "--brief", str(pdf)])
    assert result.exit_code == 0, result.output
    assert "80% interval" in result.output and "What drives the result" in result.output
    spread = json.loads(out.read_text())["uncertainty"]
    assert spread["replications"] == 3
    s = spread["summary"]["year_users_2025"]
    assert s["p2_5"] <= s["p10"] <= s["median"] <= s["p90"] <= s["p97_5"]
    assert (tmp_path / "png" / "tornado.png").stat().st_size > 0
    assert (tmp_path / "png" / "uncertainty.png").stat().st_size > 0
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5_000


def test_calibrate_fits_and_writes_parameters(app: typer.Typer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calibration, "MAX_EVALS", 1)  # one step: the workflow, not the optimum
    fit_path = tmp_path / "fit.json"
    result = CliRunner().invoke(app, ["simulate", "--calibrate", "--fit-out", str(fit_path)])
    assert result.exit_code == 0, result.output
    assert "fit error per observed figure" in result.output
    fit = json.loads(fit_path.read_text())
    assert set(fit["fitted"]) == set(calibration.FITTED)
    figures = fit["figures"]
    assert figures["open_house_total_eur"]["fitted"] and figures["bankrupt_vendor_users"]["fitted"]
    assert abs(figures["open_house_total_eur"]["error"]) < 0.1  # starts at the committed fit
    assert figures["forecast_check_2025_year_users"]["fitted"] is False  # a check, not a target
    used = CliRunner().invoke(app, ["simulate", *QUICK, "--fitted", str(fit_path)])
    assert used.exit_code == 0, used.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"fitted": {"nonsense": 1}}')
    assert CliRunner().invoke(app, ["simulate", *QUICK, "--fitted", str(bad)]).exit_code == 2
