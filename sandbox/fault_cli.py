"""`pgo-sandbox fault`: MedMij's unhappy paths on demand in a running sandbox (issue 16).

``fault add NODE KIND`` switches a fault on at one node (for a count, a duration, a
probability, or until cleared; only for a provider, client, person or path prefix),
``fault list`` shows what is set, ``fault clear`` ends it. The nodes' admin API does the work
(``/admin/faults``, see ``docs/faults.md``); every firing is an event with the correlation id
it hit (``/admin/events``, the dashboard).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sandbox.cli_common import StateDir, running_or_exit
from sandbox.load_cli import seconds
from sandbox.names import USAGE_EXIT, check_name
from sandbox.testing import FaultRefused, Faults
from simulators.common.faults import KINDS, WHERE

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)



def _faults(state_dir: Path | None) -> Faults:
    return Faults(running_or_exit(state_dir))


def _param(text: str) -> tuple[str, object]:
    """``key=value``; the value as a JSON number when it is one (``status=503``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        err.print(f"[red]not a parameter: {escape(text)!r} (use key=value, e.g. status=503)[/]")
        raise typer.Exit(USAGE_EXIT)
    try:
        return key, json.loads(value) if value[:1] in "-0123456789" else value
    except ValueError:
        return key, value


def _table(rows: list[tuple[str, dict]]) -> Table:
    table = Table("node", "id", "kind", "match", "left", "fired", "params")
    for node, f in rows:
        left = [f"{f['count']}x" if f["count"] is not None else "",
                f"{f['seconds']:g}s" if f["seconds"] is not None else "",
                f"p={f['probability']:g}" if f["probability"] is not None else ""]
        table.add_row(node, f["id"], f["kind"],
                      " ".join(f"{k}={v}" for k, v in f["match"].items()) or "*",
                      " ".join(x for x in left if x) or "until cleared", str(f["fired"]),
                      " ".join(f"{k}={v}" for k, v in f["params"].items()))
    return table


def register(app: typer.Typer) -> None:
    """Add the `fault` command group to the pgo-sandbox CLI."""
    fault_app = typer.Typer(help="MedMij faults on demand: refused consent, slow DVAs, stale "
                            "lists ... (docs/faults.md).\n\n"
                            "Example: pgo-sandbox fault add dva-nexus consent_refused --count 1",
                            no_args_is_help=True)
    app.add_typer(fault_app, name="fault")

    @fault_app.command("add")
    def add(
        node: Annotated[str, typer.Argument(help="Node id, e.g. dva-nexus, registry, digid.")],
        kind: Annotated[str, typer.Argument(help="Fault kind, e.g. status, slow, "
                                            "consent_refused (docs/faults.md).")],
        provider: Annotated[str | None, typer.Option(help="Only for this provider "
                                                     "(umcsandbox@medmij).")] = None,
        client: Annotated[str | None, typer.Option(help="Only for this PGO (pgo-alpha).")
                          ] = None,
        person: Annotated[str | None, typer.Option(help="Only for this person: BSN or "
                                                   "population index.")] = None,
        path: Annotated[str | None, typer.Option(help="Only for paths starting so.")] = None,
        count: Annotated[int | None, typer.Option(min=1, help="Fire this many times.")] = None,
        duration: Annotated[str | None, typer.Option("--for", help="Only for this long: "
                                                     "30s, 2m, 1h.")] = None,
        probability: Annotated[float | None, typer.Option(
            min=0.0, max=1.0, help="Fire with this probability (a seeded draw).")] = None,
        param: Annotated[list[str] | None, typer.Option(
            "--param", help="A kind's parameter key=value (status=503, ms=2000); repeatable.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the fault as JSON.")
                           ] = False,
        state_dir: StateDir = None,
    ) -> None:
        """Switch a fault on at one node; it fires until its count or time runs out or it is
        cleared.

        Example: pgo-sandbox fault add dva-nexus status --param status=503 --param
        retry_after=10 --provider umcsandbox@medmij --count 3
        """
        check_name("fault kind", kind, KINDS)
        for_seconds = seconds(duration) if duration else None
        params = dict(_param(p) for p in param or [])
        faults = _faults(state_dir)
        topology = faults.sandbox.topology
        check_name("node", node, [n.id for n in topology.nodes])
        if provider is not None:
            check_name("provider", provider, [p.name for p in topology.providers]
                       + [p.slug for p in topology.providers])
        if client is not None:
            clients = [*topology.dvps, *topology.external_dvps, topology.inspection]
            check_name("client", client, [n.id for n in clients] + [n.hostname for n in clients])
        try:
            fault = faults.add(node, kind, provider=provider, client=client, person=person,
                               path=path, count=count, seconds=for_seconds,
                               probability=probability, params=params)
        except FaultRefused as exc:
            err.print(f"[red]{escape(str(exc))}[/]")
            raise typer.Exit(USAGE_EXIT) from exc
        except httpx.HTTPError as exc:
            err.print(f"[red]{node} did not answer: {escape(str(exc))}[/]")
            raise typer.Exit(1) from exc
        if as_json:
            console.print_json(json.dumps(fault))
        elif kind in ("clock_jump", "vendor_removed"):
            console.print(f"{kind} done at {node} (fault {fault['id']})")
        else:
            console.print(f"fault {fault['id']} set at {node}: {kind} ({WHERE[kind]})")

    @fault_app.command("list")
    def list_faults(
        node: Annotated[str | None, typer.Argument(help="One node (default: all).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON for machines.")] = False,
        state_dir: StateDir = None,
    ) -> None:
        """Show the faults set at one node or every node.

        Example: pgo-sandbox fault list dva-nexus --json
        """
        faults = _faults(state_dir)
        nodes = faults.nodes()
        if node is not None:
            nodes = [check_name("node", node, nodes)]
        rows: list[tuple[str, dict]] = []
        for n in nodes:
            try:
                rows += [(n, f) for f in faults.list(n)]
            except (FaultRefused, httpx.HTTPError) as exc:
                err.print(f"[yellow]{n}: {escape(str(exc))}[/]")
        if as_json:
            console.print_json(json.dumps([{"node": n, **f} for n, f in rows]))
        elif rows:
            console.print(_table(rows))
        else:
            console.print("no faults set")

    @fault_app.command("clear")
    def clear(
        node: Annotated[str | None, typer.Argument(help="One node (default: all).")] = None,
        fault_id: Annotated[str | None, typer.Option("--id", help="Only this fault (needs "
                                                     "NODE).")] = None,
        state_dir: StateDir = None,
    ) -> None:
        """Clear faults: one by id, all of one node, or all of every node.

        Example: pgo-sandbox fault clear dva-nexus --id 3f2a9c81d0e4
        """
        faults = _faults(state_dir)
        if node is not None:
            check_name("node", node, faults.nodes())
        if fault_id is not None:
            if node is None:
                err.print("[red]--id needs the NODE the fault is set at[/]")
                raise typer.Exit(USAGE_EXIT)
            if not faults.remove(node, fault_id):
                err.print(f"[red]no fault {escape(fault_id)} at {node}[/]")
                raise typer.Exit(1)
            console.print(f"cleared fault {fault_id} at {node}")
            return
        try:
            n = faults.clear(node)
        except (FaultRefused, httpx.HTTPError) as exc:
            err.print(f"[red]{escape(str(exc))}[/]")
            raise typer.Exit(1) from exc
        console.print(f"cleared {n} fault(s)" + (f" at {node}" if node else ""))
