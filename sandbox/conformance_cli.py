"""`pgo-sandbox conformance`: run the official Nictiz MedMij TestScripts against a DVA.

``conformance dva --provider umcsandbox@medmij`` gets a token per test person as a DVP would
(authorize -> DigiD -> consent -> token, a fresh browser per person, so no single sign-on) and
runs the XIS-Server scripts of the provider's standard against its FHIR endpoint. The scripts
expect the Nictiz reference patients: start the sandbox with ``--reference`` (see README).
``conformance dva --base URL --token TOKEN`` runs them against any FHIR base.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sandbox.state import NotRunning, Running, default_state_dir, running
from simulators.conformance import report
from simulators.conformance.model import LoadError, load
from simulators.conformance.results import ScriptResult
from simulators.conformance.runner import Engine
from simulators.conformance.suites import STANDARDS, default_root, person_keys, xis_scripts

console = Console()
err = Console(stderr=True)


class FlowFailed(RuntimeError):
    """The MedMij flow did not give a token for a person."""


def reference_persons(sandbox: Running, provider: str, service: str) -> list[dict]:
    """The persons after the synthetic population that ``provider`` serves in ``service``:
    the reference test patients loaded with ``up --reference``."""
    from simulators.common.http import sync_client

    with sync_client(sandbox.info.addresses) as client:
        r = client.get(sandbox.url("digid", "/api/test-persons"), params={
            "provider": provider, "service": service, "n": 100,
            "start": sandbox.topology.population})
    return r.json() if r.status_code == 200 else []


def sandbox_token(sandbox: Running, provider: str, bsn: str, dvp: str = "pgo-alpha") -> str:
    """An access token for the person, through the real flow as DVP ``dvp``."""
    from scenarios.oauth_probe import exchange, get_code
    from scenarios.useragent import FlowError
    from simulators.common.http import sync_client

    try:
        code, redirect_uri = get_code(sandbox, provider, bsn, dvp=dvp)
    except FlowError as exc:
        raise FlowFailed(f"authorize/DigiD/consent for BSN {bsn}: {exc}") from exc
    with sync_client(sandbox.info.addresses) as client:
        r = exchange(client, sandbox, provider, code, redirect_uri,
                     sandbox.topology.node(dvp).hostname)
    if r.status_code != 200 or "access_token" not in r.json():
        raise FlowFailed(f"token endpoint answered {r.status_code}: {r.text[:200]}")
    return r.json()["access_token"]


def run_sandbox_suite(sandbox: Running, provider: str, standards: list[str] | None = None,
                      goals: list[str] | None = None, formats: list[str] | None = None,
                      root: Path | None = None, dvp: str = "pgo-alpha",
                      match: str | None = None, on_script=None) -> list[ScriptResult]:
    """Run the XIS-Server scripts against ``provider``'s DVA in a running sandbox."""
    from scenarios.oauth_probe import resource_base
    from simulators.common.http import sync_client

    p = sandbox.topology.provider(provider)
    if standards is None:
        standards = [s for s, (_v, _f, service) in STANDARDS.items()
                     if service in p.gegevensdiensten]
    root = root or default_root()
    if root is None:
        raise FileNotFoundError("Nictiz testscripts not found: pass --testscripts DIR")
    results = []
    tokens: dict[str, str | Exception] = {}
    persons: dict[str, list[dict]] = {}
    with sync_client(sandbox.info.addresses) as client:
        for item in xis_scripts(root, standards, goals, formats):
            if match and match not in item.path.name:
                continue
            script = load(item.path)
            engine = Engine(resource_base(sandbox, provider, item.service), client=client)
            if item.service not in p.gegevensdiensten:
                results.append(engine.skipped(script, f"{provider} does not offer "
                                              f"gegevensdienst {item.service}", item.labels()))
                continue
            if item.service not in persons:
                persons[item.service] = reference_persons(sandbox, provider, item.service)
            variables, problem = {}, None
            for var, key in person_keys(script.variables).items():
                person = next((x for x in persons[item.service] if key in x["name"]), None)
                if person is None:
                    problem = (f"reference patient {key} is not served by {provider}: start "
                               f"the sandbox with --reference {provider}="
                               f"{item.reference_folder}")
                    break
                if person["bsn"] not in tokens:
                    try:
                        tokens[person["bsn"]] = sandbox_token(sandbox, provider, person["bsn"],
                                                              dvp)
                    except FlowFailed as exc:
                        tokens[person["bsn"]] = exc
                token = tokens[person["bsn"]]
                if isinstance(token, Exception):
                    problem = f"no token for {key}: {token}"
                    break
                variables[var] = f"Bearer {token}"
            result = (engine.skipped(script, problem, item.labels()) if problem
                      else engine.run(script, variables, item.labels()))
            results.append(result)
            if on_script:
                on_script(result)
    return results


def run_outside_suite(base: str, token: str | None, standards: list[str],
                      goals: list[str] | None = None, formats: list[str] | None = None,
                      root: Path | None = None, variables: dict[str, str] | None = None,
                      match: str | None = None, on_script=None) -> list[ScriptResult]:
    """Run the XIS-Server scripts against any FHIR base; ``token`` fills every
    ``patient-token-*`` variable (a server with one test person per script)."""
    root = root or default_root()
    if root is None:
        raise FileNotFoundError("Nictiz testscripts not found: pass --testscripts DIR")
    results = []
    with Engine(base) as engine:
        for item in xis_scripts(root, standards, goals, formats):
            if match and match not in item.path.name:
                continue
            script = load(item.path)
            values = {var: (token if token.lower().startswith("bearer ") else f"Bearer {token}")
                      for var in person_keys(script.variables)} if token else {}
            values.update(variables or {})
            result = engine.run(script, values, item.labels())
            results.append(result)
            if on_script:
                on_script(result)
    return results


def _choices(value: str | None, allowed: tuple[str, ...], what: str) -> list[str] | None:
    if value in (None, "all"):
        return None
    if value not in allowed:
        raise typer.BadParameter(f"{what} must be one of {', '.join(allowed)} or all")
    return [value]


def register(app: typer.Typer) -> None:
    """Add the ``conformance`` sub-app to the main CLI."""
    conformance = typer.Typer(help="Run the official Nictiz MedMij TestScripts.\n\n"
                              "Example: pgo-sandbox conformance dva --provider "
                              "umcsandbox@medmij", no_args_is_help=True)
    app.add_typer(conformance, name="conformance")

    @conformance.command("dva")
    def dva(
        provider: Annotated[str | None, typer.Option(
            help="A provider of the running sandbox, e.g. umcsandbox@medmij.")] = None,
        base: Annotated[str | None, typer.Option(
            help="Any FHIR base URL instead of a sandbox provider.")] = None,
        token: Annotated[str | None, typer.Option(
            help="Bearer token for --base (fills every patient-token-* variable).")] = None,
        var: Annotated[list[str] | None, typer.Option(
            help="Script variable NAME=VALUE (repeatable).")] = None,
        standard: Annotated[str | None, typer.Option(
            help="bgz | immunization | all (default: what the provider offers; all "
                 "with --base).")] = None,
        goal: Annotated[str, typer.Option(help="Test | Cert | all.")] = "all",
        fmt: Annotated[str, typer.Option("--format", help="json | xml | all.")] = "all",
        match: Annotated[str | None, typer.Option(
            help="Only scripts whose file name contains this.")] = None,
        testscripts: Annotated[Path | None, typer.Option(
            help="The Nictiz testscripts folder (default ../shared/medmij/testscripts).")
        ] = None,
        dvp: Annotated[str, typer.Option(help="The DVP whose client gets the tokens.")
                       ] = "pgo-alpha",
        json_out: Annotated[Path | None, typer.Option("--json", help="Write JSON here.")
                            ] = None,
        junit_out: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML.")
                             ] = None,
        testreports: Annotated[Path | None, typer.Option(
            help="Write one FHIR TestReport (R4 JSON) per script into this folder.")] = None,
        state_dir: Annotated[Path | None, typer.Option(
            "--state-dir", help="The sandbox's state directory.")] = None,
    ) -> None:
        """Run the XIS-Server scripts (what a DVA must answer) against a DVA.

        Example: pgo-sandbox conformance dva --provider umcsandbox@medmij --format json
        --junit out.xml. Exit code 1 when an assert failed, 2 when nothing could run.
        """
        if (provider is None) == (base is None):
            raise typer.BadParameter("give either --provider or --base")
        standards = _choices(standard, tuple(STANDARDS), "--standard")
        goals = _choices(goal if goal == "all" else goal.capitalize(), ("Test", "Cert"),
                         "--goal")
        formats = _choices(fmt, ("json", "xml"), "--format")
        variables = {}
        for item in var or []:
            name, eq, value = item.partition("=")
            if not eq:
                raise typer.BadParameter(f"--var {item!r}: use NAME=VALUE")
            variables[name] = value
        started = time.perf_counter()

        def progress(result: ScriptResult) -> None:
            c = result.counts()
            err.print(f"{result.id}: {c['passed']}/{c['asserts']} passed, {c['failed']} failed"
                      f", {c['not_evaluated']} not evaluated ({result.seconds:.1f}s)",
                      markup=False, highlight=False)
        try:
            if provider is not None:
                try:
                    sandbox = running((state_dir or default_state_dir()).resolve())
                except NotRunning as exc:
                    err.print(str(exc))
                    raise typer.Exit(2) from exc
                try:
                    sandbox.topology.provider(provider)
                except KeyError as exc:
                    err.print(f"unknown provider {provider}")
                    raise typer.Exit(2) from exc
                results = run_sandbox_suite(sandbox, provider, standards, goals, formats,
                                            testscripts, dvp, match, progress)
            else:
                results = run_outside_suite(base or "", token, standards or list(STANDARDS),
                                            goals, formats, testscripts, variables, match,
                                            progress)
        except (FileNotFoundError, LoadError) as exc:
            err.print(str(exc))
            raise typer.Exit(2) from exc
        report.print_table(results, console)
        console.print(f"suite time: {time.perf_counter() - started:.1f} s")
        if json_out:
            report.write_json(results, json_out)
        if junit_out:
            report.write_junit(results, junit_out)
        if testreports:
            report.write_testreports(results, testreports)
        if not results:
            raise typer.Exit(2)
        if any(r.counts()["failed"] or r.counts()["operations_failed"] for r in results):
            raise typer.Exit(1)
