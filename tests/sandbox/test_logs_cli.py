"""`pgo-sandbox logs`: one node's raw log, or every node's hops merged in time order from
their event APIs, narrowed to one journey with --corr and followed with -f (issue 15: "logs is
one node's raw lines with no follow, no merge, no filter by correlation id")."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import typer
from typer.testing import CliRunner

from sandbox.logs_cli import register
from simulators.common.events import agent
from simulators.medmij import CORRELATION_ID

app = typer.Typer()
register(app)
app.command("noop")(lambda: None)  # a second command keeps `logs` a subcommand


def journey(sandbox, corr: str) -> None:
    """Two hops of one journey on two nodes, the second as if called by the first."""
    httpx.get(sandbox.url("registry", "/health"), headers={CORRELATION_ID: corr})
    httpx.get(sandbox.url("dva-nexus", "/health"),
              headers={CORRELATION_ID: corr, "User-Agent": agent("pgo-alpha")})


def test_merged_hops_of_one_journey_across_nodes(sandbox):
    corr = f"logs-{uuid.uuid4()}"
    journey(sandbox, corr)
    result = CliRunner().invoke(app, ["logs", "--corr", corr, "--state-dir",
                                      str(sandbox.state_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if corr in line]
    assert len(lines) == 2, result.output
    assert "-> registry" in lines[0] and "pgo-alpha -> dva-nexus" in lines[1]
    other = CliRunner().invoke(app, ["logs", "--corr", "nobody", "--state-dir",
                                     str(sandbox.state_dir)])
    assert corr not in other.output


def test_one_node_gives_its_raw_log_and_unknown_nodes_are_named(sandbox):
    result = CliRunner().invoke(app, ["logs", "registry", "--lines", "5", "--state-dir",
                                      str(sandbox.state_dir)])
    assert result.exit_code == 0 and "hop registry" in result.output, result.output
    wrong = CliRunner().invoke(app, ["logs", "dva-nexsu", "--state-dir",
                                     str(sandbox.state_dir)])
    assert wrong.exit_code == 2 and "unknown node" in wrong.output and "dva-nexus" in wrong.output


def test_follow_prints_hops_as_they_happen(sandbox):
    corr = f"follow-{uuid.uuid4()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.cli", "logs", "-f", "--corr", corr, "--state-dir",
         str(sandbox.state_dir)], stdout=subprocess.PIPE, text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    try:
        time.sleep(3)  # the command is running and has printed the (empty) history
        journey(sandbox, corr)
        deadline = time.monotonic() + 20
        seen = []
        while time.monotonic() < deadline and len(seen) < 2:
            out = proc.stdout.readline()
            if corr in out:
                seen.append(out)
        assert len(seen) == 2, seen
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
