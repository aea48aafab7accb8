"""Every name a user types is checked: `unknown X 'v'; known: ...` on stderr, exit code 2,
never a traceback (sandbox/names.py ``check_name``, used by every command)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.state import Running
from scenarios.persons import find_persons
from scenarios.useragent import FlowError

runner = CliRunner()
DVPS = "known: pgo-alpha, pgo-beta, pgo-gamma"
PROVIDERS = "known: umcsandbox@medmij, huisartsdebrug@medmij, rivmvaccinaties@medmij"


def _refused(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    said = " ".join((result.stderr + result.stdout).split())
    assert result.exit_code == 2, (args, result.exit_code, said, result.exception)
    assert expected in said, (args, said)
    assert "Traceback" not in said and not isinstance(result.exception, KeyError)


# Names the running topology decides (a sandbox is needed).
@pytest.mark.parametrize(("args", "expected"), [
    (["vendor", "bankrupt", "pgo-gama"], f"unknown DVP 'pgo-gama'; {DVPS}"),
    (["vendor", "settle", "pgo-gama"], f"unknown DVP 'pgo-gama'; {DVPS}"),
    (["vendor", "readmit", "pgo-gama"], f"unknown DVP 'pgo-gama'; {DVPS}"),
    (["scenario", "run", "collect", "--dvp", "pgo-alfa"], f"unknown DVP 'pgo-alfa'; {DVPS}"),
    (["scenario", "run", "portability", "--to", "pgo-x"], f"unknown DVP 'pgo-x'; {DVPS}"),
    (["scenario", "run", "collect", "--provider", "nosuch@medmij"],
     f"unknown provider 'nosuch@medmij'; {PROVIDERS}"),
    (["scenario", "run", "collect", "--service", "99"], "unknown gegevensdienst '99'; known: 48"),
    (["logs", "nosuch"], "unknown node 'nosuch'; known: registry, digid, dva-nexus"),
    (["conformance", "dva", "--provider", "x"], f"unknown provider 'x'; {PROVIDERS}"),
    (["conformance", "dva", "--provider", "umcsandbox@medmij", "--standard", "x"],
     "unknown standard 'x'; known: bgz, immunization, all"),
    (["conformance", "pgo", "--client", "x"], f"unknown DVP 'x'; {DVPS}"),
])
def test_unknown_name_in_running_sandbox(sandbox: Running, args: list[str],
                                         expected: str) -> None:
    _refused([*args, "--state-dir", str(sandbox.state_dir)], expected)


# Names the CLI knows without a sandbox.
@pytest.mark.parametrize(("args", "expected"), [
    (["scenario", "run", "nosuch"], "unknown scenario 'nosuch'; known: collect, inspection"),
    (["load", "nosuchflow"], "unknown flow 'nosuchflow'; known: collect, longlived"),
    (["load", "collect,nosuch"], "unknown flow 'nosuch'; known: collect"),
    (["population", "show", "--provider", "x"], f"unknown provider 'x'; {PROVIDERS}"),
    (["up", "--runtime", "nosuch"], "unknown runtime 'nosuch'; known: local, docker"),
    (["up", "--reference", "nosuch@medmij=."], f"unknown provider 'nosuch@medmij'; {PROVIDERS}"),
])
def test_unknown_name_without_sandbox(tmp_path: Path, args: list[str], expected: str) -> None:
    if args[0] != "population":
        args = [*args, "--state-dir", str(tmp_path)]
    _refused(args, expected)
    assert not (tmp_path / "runtime.json").exists()  # nothing was started


def test_population_show_by_provider_finds_a_person() -> None:
    result = runner.invoke(app, ["population", "show", "--provider", "rivmvaccinaties@medmij",
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert "rivmvaccinaties@medmij" in result.stdout


def test_find_persons_names_an_unknown_provider(sandbox: Running) -> None:
    """Scenarios called from code get the same wording, not 'only 0 test persons'."""
    with httpx.Client() as client, pytest.raises(FlowError, match="unknown provider 'x'; known"):
        find_persons(client, sandbox, "x")
