"""`pgo-sandbox load` follows Locust's conventions: durations as `15s`/`2m`/`1h30m`, reports
under the state directory (never the checkout), `--web` pre-filled from --users/--duration
(`--autostart` starts it), and a failed run says why on the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import loadtests.run as load_run
from loadtests.run import LoadOptions, failure_reasons, locust_command
from sandbox.cli import app
from sandbox.load_cli import reports_dir, seconds
from sandbox.state import Running

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.mark.parametrize(("text", "expected"), [
    ("60", 60.0), ("15s", 15.0), ("2m", 120.0), ("1h30m", 5400.0), ("1.5", 1.5)])
def test_duration_as_locust_writes_it(text: str, expected: float) -> None:
    assert seconds(text) == expected


def test_duration_refused_with_the_forms_it_takes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["load", "collect", "--duration", "soon", "--state-dir",
                                 str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "15s, 2m, 1h30m" in " ".join(result.output.split())
    with pytest.raises(typer.BadParameter):
        seconds("10x")


def test_reports_under_the_state_directory(tmp_path: Path) -> None:
    out = reports_dir(tmp_path, "collect,pgo", None)
    assert out.parent == tmp_path / "load-reports"
    assert out.name.startswith("collect+pgo-")
    assert reports_dir(tmp_path, "collect", tmp_path / "mine") == tmp_path / "mine"
    assert "load-reports/" in (ROOT / ".gitignore").read_text().splitlines()


def test_web_is_prefilled_and_autostarts(tmp_path: Path) -> None:
    opts = LoadOptions("collect", users=7, spawn_rate=2, duration=90)
    cmd = locust_command([Path("collect.py")], opts, 7, 90, tmp_path / "flow", 8089)
    assert cmd[cmd.index("-u") + 1] == "7" and cmd[cmd.index("-t") + 1] == "90s"
    assert "--autostart" not in cmd and "--headless" not in cmd
    cmd = locust_command([Path("collect.py")], opts, 7, 90, tmp_path / "flow", 8089,
                         autostart=True)
    assert "--autostart" in cmd and "--autoquit" in cmd
    assert cmd[cmd.index("--csv") + 1] == str(tmp_path / "flow")


def test_autostart_needs_web(tmp_path: Path) -> None:
    result = runner.invoke(app, ["load", "collect", "--autostart", "--state-dir",
                                 str(tmp_path)])
    assert result.exit_code == 2


FAILURES_CSV = (
    "Method,Name,Error,Occurrences\n"
    "GET,authorize,\"CatchResponseError('authorize answered 400: <!doctype html>\\n<html>"
    "<head><title>Er ging iets mis</title><style>body{}</style>')\",7\n"
    "FLOW,collect flow (48),\"FlowError('token answered 401')\",2\n")


def test_failure_reasons_from_locust_csv(tmp_path: Path) -> None:
    (tmp_path / "flow_failures.csv").write_text(FAILURES_CSV)
    reasons = failure_reasons(tmp_path / "flow")
    assert [r["occurrences"] for r in reasons] == [7, 2]
    assert reasons[0]["error"] == ("CatchResponseError('authorize answered 400: "
                                   "Er ging iets mis ')")


def test_failed_load_prints_top_reasons(sandbox: Running, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI wiring: a run with failures exits 1 and names the reasons on the terminal
    (the run itself is replaced: the reasons come from Locust's CSV as a real run writes)."""
    def fake_run(_sandbox, opts: LoadOptions, say=print) -> dict:
        opts.out_dir.mkdir(parents=True)
        (opts.out_dir / "flow_failures.csv").write_text(FAILURES_CSV)
        return {"flow": opts.flow, "flows_per_s": 0, "requests_per_s": 0, "failures": 9,
                "duration_s": 1, "steps": {}, "ceiling": {}, "ratios": {}}

    monkeypatch.setattr(load_run, "run", fake_run)
    result = runner.invoke(app, ["load", "collect", "--duration", "2s", "--state-dir",
                                 str(sandbox.state_dir)], env={"COLUMNS": "300"})
    said = " ".join(result.output.split())
    assert result.exit_code == 1, said
    assert "9 failed requests; top reasons:" in said
    assert "7 x GET authorize: CatchResponseError('authorize answered 400: Er ging iets mis" \
        in said
    assert f"reports in {sandbox.state_dir / 'load-reports'}" in said


def test_help_shows_no_bool_noise() -> None:
    result = runner.invoke(app, ["load", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--web" in result.output and "<bool>" not in result.output
    assert "<int>" in result.output  # options with a value keep their type
