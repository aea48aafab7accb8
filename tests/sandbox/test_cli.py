"""The command line: every command explains itself with an example, and up/status/down work."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from sandbox.cli import app
from tests.conftest import free_base_port

runner = CliRunner()


def all_commands(group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        path = (*prefix, name)
        yield path
        if hasattr(command, "commands"):  # a group (typer vendors its own click)
            yield from all_commands(command, path)


COMMANDS = list(all_commands(typer.main.get_command(app)))


def test_core_commands_exist():
    names = {" ".join(p) for p in COMMANDS}
    assert {"up", "down", "status", "reset", "logs", "lists", "scenario run", "demo",
            "vendor bankrupt", "vendor settle"} <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p))
def test_every_command_has_help_with_an_example(path):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "example" in result.output.lower(), result.output


def test_up_status_scenario_down_from_the_cli(tmp_path, medmij_dir):
    env = {"PGO_SANDBOX_HOME": str(tmp_path), "COLUMNS": "200"}
    base = str(free_base_port())
    nictiz = medmij_dir / "testscripts" / "STU3" / "BgZ-3-0" / "MedMij" / "Test" / "_reference"
    result = runner.invoke(app, ["up", "--base-port", base,
                                 "--reference", f"umcsandbox@medmij={nictiz}"], env=env)
    try:
        assert result.exit_code == 0, result.output
        assert "healthy in" in result.output
        status = runner.invoke(app, ["status", "--json"], env=env)
        assert status.exit_code == 0, status.output
        rows = json.loads(status.output)
        assert len(rows) == 8 and all(r["healthy"] for r in rows)
        report = tmp_path / "collect.json"
        run = runner.invoke(app, ["scenario", "run", "collect", "--json", str(report)], env=env)
        assert run.exit_code == 0, run.output
        assert json.loads(report.read_text())["ok"] is True
        check_reference_patient_collects(tmp_path)
        again = runner.invoke(app, ["up", "--base-port", base], env=env)
        assert again.exit_code == 1 and "already runs" in again.output
        assert list((tmp_path / "nodes" / "pgo-alpha").glob("dvp.sqlite"))
        from sandbox.state import running
        from scenarios.accounts import create_account
        from scenarios.useragent import Browser

        with Browser(running(tmp_path).info.addresses) as browser:
            account = create_account(browser, running(tmp_path).url("pgo-alpha"), "reset test")
        reset = runner.invoke(app, ["reset"], env=env)
        assert reset.exit_code == 0, reset.output
        with Browser(running(tmp_path).info.addresses) as browser:
            home = browser.get(account.url("/"))
            again = browser.request("POST", account.url("/api/login"), json={
                "person_id": account.person_id, "password": account.password})
        assert home.status_code == 200 and "Account aanmaken" in home.text
        assert again.status_code == 401  # the account is gone after reset
    finally:
        down = runner.invoke(app, ["down"], env=env)
    assert down.exit_code == 0 and "stopped 8 nodes" in down.output
    assert runner.invoke(app, ["status"], env=env).exit_code == 1


def test_scenario_without_a_sandbox_says_so(tmp_path):
    result = runner.invoke(app, ["scenario", "run", "collect"],
                           env={"PGO_SANDBOX_HOME": str(tmp_path)})
    assert result.exit_code == 1 and "pgo-sandbox up" in result.output


def check_reference_patient_collects(state_dir):
    """A Nictiz qualification patient, loaded with --reference, collected through the flow."""
    from sandbox.state import running
    from scenarios import collect
    from simulators.common.http import sync_client

    sandbox = running(state_dir)
    size = sandbox.topology.population
    with sync_client(sandbox.info.addresses) as http:
        persons = http.get(sandbox.url("digid", "/api/test-persons"), params={
            "provider": "umcsandbox@medmij", "start": size, "n": 1}).json()
    assert persons and persons[0]["index"] >= size
    report = collect.run(sandbox, provider="umcsandbox@medmij", service="48",
                         bsn=persons[0]["bsn"])
    assert report.ok, report.to_dict()
    assert report.summary["resources"] > 5


def test_population_show_finds_a_person_of_the_running_sandbox(sandbox):
    """The population command and the sandbox's nodes agree on who is who and where."""
    from simulators.common.http import sync_client

    with sync_client(sandbox.info.addresses) as http:
        person = http.get(sandbox.url("digid", "/api/test-persons"),
                          params={"provider": "rivmvaccinaties@medmij", "n": 1}).json()[0]
    result = runner.invoke(app, ["population", "show", "--bsn", person["bsn"], "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["index"] == person["index"] and shown["name"] == person["name"]
    assert "rivmvaccinaties@medmij" in shown["holders"]
