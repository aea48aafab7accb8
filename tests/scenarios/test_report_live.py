"""A scenario tells its steps as they happen (issue 15: `scenario run bankruptcy` printed
nothing for 17 s, then everything at once)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sandbox.cli import app
from scenarios.report import ScenarioReport, StepFailed, live


def test_steps_and_marks_reach_the_listener_as_they_happen():
    heard: list[tuple[str, str]] = []
    report = ScenarioReport("demo")
    with live(lambda r, event, what: heard.append((event, getattr(what, "name", what)))):
        with report.step("first"):
            assert heard == [("start", "first")]  # told before the step's work is done
        report.mark("vendor bankrupt")
        with pytest.raises(StepFailed), report.step("second"):
            raise RuntimeError("boom")
    with report.step("after the block"):
        pass
    assert heard == [("start", "first"), ("ok", "first"), ("mark", "vendor bankrupt"),
                     ("start", "second"), ("failed", "second")]


def test_scenario_run_prints_each_step_before_the_table(sandbox):
    result = CliRunner().invoke(app, ["scenario", "run", "collect", "--state-dir",
                                      str(sandbox.state_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    first_progress = next(i for i, line in enumerate(lines) if line.startswith("ok "))
    table = next(i for i, line in enumerate(lines) if "scenario collect" in line)
    assert first_progress < table, result.output
    assert any(line.startswith("... ") for line in lines[:first_progress]), result.output
