"""Review findings 2, 4, 5 and 6: a provider of an outside DVA is a name `scenario run`
accepts; an output path that cannot be written ends the command with ``cannot create ...``
and exit 2 before any work (never a traceback); ports, --users and --index are usage errors
naming the valid range; `vendor settle` of a vendor that is not bankrupt says so."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.scenario_cli import _check_scenario_names
from sandbox.state import Running
from simulators.medmij.topology import load_topology

runner = CliRunner()
UNWRITABLE = "/proc/pgo-nope"  # no one, not even root, makes a folder here


def cli(*args: str):
    result = runner.invoke(app, list(args), env={"COLUMNS": "300"})
    said = " ".join((result.stderr + result.stdout).split())
    assert "Traceback" not in said, said
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result, said


# --- finding 2: providers of outside DVAs ----------------------------------------------------
def test_scenario_names_accept_a_provider_of_an_outside_dva(capsys) -> None:
    topo = load_topology()
    _check_scenario_names(topo, dvp="pgo-alpha", to=None, provider="evilkliniek@medmij",
                          service=None, outside=["evilkliniek@medmij"])
    with pytest.raises(typer.Exit) as refused:
        _check_scenario_names(topo, dvp=None, to=None, provider="nosuch@medmij", service=None,
                              outside=["evilkliniek@medmij"])
    assert refused.value.exit_code == 2
    said = " ".join(capsys.readouterr().err.split())
    assert "unknown provider 'nosuch@medmij'; known: umcsandbox@medmij" in said
    assert said.endswith("@medmij, evilkliniek@medmij"), said


# --- finding 4: output paths that cannot be written, before the work -------------------------
@pytest.mark.parametrize("args", [
    ["load", "collect", "--out", UNWRITABLE],
    ["load", "collect", "--json", f"{UNWRITABLE}/r.json"],
    ["conformance", "dva", "--base", "http://127.0.0.1:9", "--json", f"{UNWRITABLE}/r.json"],
    ["conformance", "dva", "--base", "http://127.0.0.1:9", "--junit", f"{UNWRITABLE}/r.xml"],
    ["drill", "registry-down", "--out", UNWRITABLE],
    ["drill", "registry-down", "--json", f"{UNWRITABLE}/r.json"],
    ["lists", "--out", UNWRITABLE],
    ["scenario", "run", "inspection", "--json", f"{UNWRITABLE}/r.json"],
], ids=["load-out", "load-json", "conformance-json", "conformance-junit", "drill-out",
        "drill-json", "lists-out", "scenario-json"])
def test_unwritable_output_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    if args[0] != "lists":
        args = [*args, "--state-dir", str(tmp_path)]  # no sandbox there: checked before
    result, said = cli(*args)
    assert result.exit_code == 2, said
    assert f"{UNWRITABLE}" in said and "cannot create the" in said, said
    assert "not running" not in said.lower()


def test_scenario_json_folder_is_still_created(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir" / "r.json"
    result, said = cli("scenario", "run", "collect", "--json", str(target),
                       "--state-dir", str(tmp_path / "state"))
    assert result.exit_code == 1, said  # no sandbox: an operational failure
    assert target.parent.is_dir() and not target.exists()


def test_a_file_in_the_way_of_the_output_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result, said = cli("lists", "--out", str(blocker / "lists"))
    assert result.exit_code == 2 and "cannot create the folder" in said, said


def test_unwritable_matrix_and_pgo_outputs_with_a_sandbox(sandbox: Running) -> None:
    state = ["--state-dir", str(sandbox.state_dir)]
    result, said = cli("conformance", "matrix", "--out", UNWRITABLE, *state)
    assert result.exit_code == 2 and "cannot create the folder" in said, said
    result, said = cli("conformance", "pgo", "--client", "pgo-alpha", "--json",
                       f"{UNWRITABLE}/r.json", *state)
    assert result.exit_code == 2 and "cannot create the folder" in said, said


def test_settling_a_vendor_that_is_not_bankrupt(sandbox: Running) -> None:
    result, said = cli("vendor", "settle", "pgo-alpha", "--state-dir", str(sandbox.state_dir))
    assert result.exit_code == 1, said
    assert "pgo-alpha refused the settlement: " in said and "bankrupt" in said, said


# --- findings 5 and 6: ranges are usage errors -----------------------------------------------
@pytest.mark.parametrize(("args", "expected"), [
    (["story", "collect", "--web", "--port", "99999"], "--port"),
    (["story", "collect", "--web", "--port", "0"], "--port"),
    (["load", "collect", "--web", "--web-port", "70000"], "--web-port"),
    (["load", "collect", "--users", "0"], "greater than or equal to 1"),  # typer min=1
    (["load", "collect", "--spawn-rate", "0"], "--spawn-rate must be in"),  # LoadOptions
], ids=["story-port-high", "story-port-0", "load-web-port", "load-users", "load-spawn-rate"])
def test_ranges_are_usage_errors(tmp_path: Path, args: list[str], expected: str) -> None:
    result, said = cli(*args, "--state-dir", str(tmp_path))
    assert result.exit_code == 2, said
    assert expected in said and "LoadError" not in said, said
    assert "not running" not in said.lower()  # refused before the sandbox is looked for


def test_population_show_index_out_of_range() -> None:
    result, said = cli("population", "show", "--index", "100000000")
    assert result.exit_code == 2, said
    assert "--index 100000000 is outside 0.." in said and "IndexError" not in said, said


@pytest.mark.parametrize("args", [["--scenario", "nope"],
                                  ["--compare", "medelkaar-shared", "nope"]])
def test_simulate_unknown_scenario(args: list[str]) -> None:
    result, said = cli("simulate", *args)
    assert result.exit_code == 2, said
    assert "unknown scenario 'nope'; known: " in said and "ValueError" not in said, said
