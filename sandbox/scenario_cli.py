"""``pgo-sandbox scenario run NAME``: the named scenarios against the running sandbox, each
step shown as it happens, then the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sandbox.cli_common import StateDir, make_out_file, running_or_exit
from sandbox.names import check_name
from scenarios.report import live

console = Console()
err = Console(stderr=True)
scenario_app = typer.Typer(help="Run named scenarios against the running sandbox.\n\n"
                           "Example: pgo-sandbox scenario run collect --json collect.json",
                           no_args_is_help=True)


SCENARIOS = ("collect", "inspection", "share", "long-lived-consent", "portability",
             "bankruptcy")


def outside_providers(sandbox) -> list[str]:
    """The providers of outside DVAs on the running sandbox's ZAL (``participant add-dva`` or
    declared), from the registry's ``GET /admin/participants``; none when it does not answer
    (the name check then names the topology's own)."""
    import httpx

    from simulators.common.http import sync_client

    try:
        with sync_client(sandbox.info.addresses, timeout=10.0) as client:
            r = client.get(sandbox.url("registry", "/admin/participants"),
                           headers=sandbox.admin_headers)
        found = r.json()["participants"] if r.status_code == 200 else {}
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return []
    return [name for record in found.values() if isinstance(record, dict)
            for name in record.get("providers") or []]


def _check_scenario_names(topo, dvp: str | None, to: str | None, provider: str | None,
                          service: str | None, outside: Sequence[str] = ()) -> None:
    """Refuse a DVP, provider or gegevensdienst the running sandbox does not have, before a
    scenario reaches it as a KeyError (or as 'only 0 test persons'). ``outside``: the
    providers of outside DVAs on its ZAL, also accepted (bring-your-own.md step 7)."""
    from simulators.medmij.gegevensdiensten import GEGEVENSDIENSTEN

    for value in (dvp, to):
        if value is not None:
            check_name("DVP", value, [n.id for n in topo.dvps])
    if provider is not None:
        own = [p.name for p in topo.providers]
        check_name("provider", provider, own + [p for p in outside if p not in own])
    if service is not None:
        check_name("gegevensdienst", service, GEGEVENSDIENSTEN)


def _any_bsn(sandbox) -> str | None:
    """A test person's BSN for an outside DVA (it identifies persons itself, so DigiD's
    per-provider index does not know its data); None leaves the choice to the scenario."""
    import httpx

    from simulators.common.http import sync_client

    try:
        with sync_client(sandbox.info.addresses, timeout=10.0) as client:
            r = client.get(sandbox.url("digid", "/api/test-persons"), params={"n": 1})
        return str(r.json()[0]["bsn"])
    except (httpx.HTTPError, ValueError, LookupError, TypeError):
        return None


def _progress_printer():
    """A scenario's steps on the terminal as they happen (its own steps, not those of the
    reports it makes inside); the full table follows at the end."""
    top: list[int] = []

    def show(report, event: str, what) -> None:
        if not top:
            top.append(id(report))
        if id(report) != top[0]:
            return
        if event == "start":
            console.print(f"[dim]... {escape(what)}[/]")
        elif event == "ok":
            console.print(f"[green]ok[/] {escape(what.name)} [dim]{what.seconds:.1f} s[/]")
        elif event == "failed":
            console.print(f"[red]FAILED[/] {escape(what.name)}: {escape(what.detail)}")
        else:
            console.print(f"[dim]   {escape(str(what))}[/]")

    return show


@scenario_app.command("run")
def scenario_run(
    name: Annotated[str, typer.Argument(
        help="collect, inspection, share, long-lived-consent, portability or bankruptcy")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here.")] =
    None,
    dvp: Annotated[str | None, typer.Option(help="DVP node id (default: the first).")] = None,
    provider: Annotated[str | None, typer.Option(help="Provider name, e.g. "
                                                 "umcsandbox@medmij.")] = None,
    service: Annotated[str | None, typer.Option(help="One gegevensdienst id (1.x scope).")] =
    None,
    users: Annotated[int, typer.Option(help="bankruptcy: users of the failing vendor.")] = 3,
    to: Annotated[str | None, typer.Option(help="portability: the new PGO's node id.")] = None,
    keep: Annotated[bool, typer.Option(help="bankruptcy: leave the vendor out afterwards "
                                       "instead of readmitting it empty.")] = False,
    state_dir: StateDir = None,
) -> None:
    """Run a scenario against the running sandbox; exits non-zero when a step fails.

    Examples: pgo-sandbox scenario run collect --provider rivmvaccinaties@medmij --json r.json;
    pgo-sandbox scenario run bankruptcy --users 5 --json bankruptcy.json
    """
    check_name("scenario", name, SCENARIOS)
    if json_out is not None:  # before the scenario runs for minutes
        make_out_file(json_out, "--json")
    sandbox = running_or_exit(state_dir)
    own = [p.name for p in sandbox.topology.providers]
    # an outside DVA's provider: collect only (bring-your-own.md step 7); the other
    # scenarios pick their test persons by the topology's providers
    outside = outside_providers(sandbox) if name == "collect" and provider \
        and provider not in own else []
    _check_scenario_names(sandbox.topology, dvp=dvp, to=to, provider=provider,
                          service=service, outside=outside)
    with live(_progress_printer()):  # each step as it happens, not after minutes
        if name == "collect":
            from scenarios import collect

            bsn = _any_bsn(sandbox) if provider in outside else None  # an outside DVA
            report = collect.run(sandbox, dvp=dvp, provider=provider, service=service, bsn=bsn)
        elif name == "inspection":
            from scenarios import inspection

            report = inspection.run(sandbox)
        elif name == "portability":
            from scenarios import portability

            report = portability.run(sandbox, old_dvp=dvp, new_dvp=to)
        elif name == "share":
            from scenarios import share

            report = share.run(sandbox, dvp=dvp, provider=provider)
        elif name == "long-lived-consent":
            from scenarios import long_lived_consent

            report = long_lived_consent.run(sandbox, dvp=dvp, provider=provider)
        elif name == "bankruptcy":
            from scenarios import bankruptcy

            if users < 1:
                raise typer.BadParameter("--users must be at least 1")
            report = bankruptcy.run(sandbox, users=users, dvp=dvp, restore=not keep)
        else:  # SCENARIOS and this chain disagree: a bug, not a user's typo
            raise AssertionError(f"scenario {name} has no runner")
    report.print(console)
    if json_out:
        report.write_json(json_out)
        console.print(f"report written to {json_out}")
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``scenario`` commands to the pgo-sandbox CLI."""
    app.add_typer(scenario_app, name="scenario")
