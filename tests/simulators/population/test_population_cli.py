"""The ``population`` CLI group: show and export, with examples in --help."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from simulators.population.cli import register

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test root."""

    register(app)
    return app


def test_show_by_index_and_by_bsn_agree() -> None:
    app = _app()
    by_index = runner.invoke(app, ["population", "show", "--index", "5", "--size", "1000"])
    assert by_index.exit_code == 0, by_index.output
    summary = json.loads(by_index.output)
    by_bsn = runner.invoke(app, ["population", "show", "--bsn", summary["bsn"], "--size", "1000"])
    assert json.loads(by_bsn.output) == summary
    missing = runner.invoke(app, ["population", "show", "--bsn", "123456782", "--size", "10"])
    assert missing.exit_code == 1


def test_export_writes_ndjson_and_bundles(tmp_path: Path) -> None:
    app = _app()
    result = runner.invoke(app, ["population", "export", "--n", "10", "--size", "1000",
                                 "--out", str(tmp_path / "nd"), "--summaries"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "nd" / "summaries.ndjson").read_text().splitlines()
    assert len(lines) == 10
    gp_file = next((tmp_path / "nd").glob("huisarts*-48.ndjson"))
    assert json.loads(gp_file.read_text().splitlines()[0])["resourceType"] == "Patient"
    result = runner.invoke(app, ["population", "export", "--n", "3", "--size", "1000",
                                 "--format", "bundle", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0
    bundle = json.loads(next(p for p in (tmp_path / "b").rglob("*.json")
                             if p.name != "manifest.json").read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["entry"]


def test_help_shows_examples() -> None:
    app = _app()
    for command in ("show", "export"):
        result = runner.invoke(app, ["population", command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output
