"""``pgo-sandbox drill NAME``: a fault or a kill under a bounded load, and what was lost.

Thin: ``sandbox/drill.py`` does the work (see docs/drills.md). Exit 0 when the system recovered
and lost no data, 1 when it did not (or the drill could not run), 2 for a usage error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sandbox.cli_common import StateDir, make_out_dir, make_out_file, running_or_exit
from sandbox.drill import DRILLS
from sandbox.load_cli import seconds
from sandbox.names import check_name
from sandbox.state import default_state_dir

console = Console()
err = Console(stderr=True)
REPORTS = "drill-reports"  # under the state directory, never the checkout


def table(report: dict) -> Table:
    """The report as one Rich table: the figures a trainer reads out."""
    fault, req = report["fault"], report["requests"]
    verdict = "[green]ok[/]" if report["ok"] else "[red]FAILED[/]"
    t = Table(title=f"drill {report['drill']} on {report['node']}: {verdict}")
    t.add_column("measure", no_wrap=True)
    t.add_column("value", justify="right")
    ttr = report["time_to_recover_s"]
    rows = [
        ("faults injected", str(fault["injected"])),
        ("fault window", f"{fault['start_s']:.1f} .. {fault['end_s']:.1f} s"),
        ("restart of the killed node",
         f"{fault['restart_s']:.2f} s" if fault.get("restart_s") is not None else "-"),
        ("requests (all)", str(req["requests"])),
        ("pre-fault success rate", f"{report['pre_fault_success_rate']:.1%}"),
        ("requests affected (fault .. recovery)", str(req["affected"])),
        ("failed in that window", str(req["failed"])),
        ("failed after recovery", str(req["failed_after_recovery"])),
        ("recovered", "yes" if report["recovered"] else "[red]no[/]"),
        ("time to recover", f"{ttr:.1f} s" if ttr is not None else "-"),
    ]
    for name, check in report["data"].items():
        for key, value in check.items():
            if key not in ("where", "lost") and not isinstance(value, dict | list):
                rows.append((f"{name}: {key.replace('_', ' ')}", str(value)))
    rows.append(("data lost", str(report["data_lost"]) if not report["data_lost"]
                 else f"[red]{report['data_lost']}[/]"))
    for name, value in rows:
        t.add_row(name, value)
    return t


def register(app: typer.Typer) -> None:
    """Add the ``drill`` command to the pgo-sandbox CLI."""

    @app.command()
    def drill(
        name: Annotated[str, typer.Argument(help="One of: " + "; ".join(
            f"{k} ({v})" for k, v in DRILLS.items()))],
        users: Annotated[int, typer.Option("--users", "-u", help="Concurrent users.")] = 4,
        duration: Annotated[str, typer.Option("--duration", "-t", help="How long the load "
                                              "runs: 15 (seconds), 15s, 2m.")] = "15s",
        fault_at: Annotated[str, typer.Option(help="When the fault fires, after the first "
                                              "user started.")] = "4s",
        fault_for: Annotated[str, typer.Option(help="registry-down, slow-dva: how long the "
                                               "fault lasts.")] = "4s",
        node: Annotated[str | None, typer.Option(help="The DVA (kill-dva, slow-dva) or PGO "
                                                 "(kill-pgo-import, vendor-bankrupt) to hit; "
                                                 "default the drill's own choice.")] = None,
        slow_ms: Annotated[float, typer.Option(help="slow-dva: median added latency "
                                               "(p95 twice that).")] = 1500.0,
        think_scale: Annotated[float, typer.Option(help="Multiply the persons' think "
                                                   "times.")] = 0.1,
        out: Annotated[Path | None, typer.Option(help="Folder for the report (default "
                                                 "<state>/drill-reports/<name>-<time>).")] =
        None,
        json_out: Annotated[Path | None, typer.Option("--json", help="Also write the JSON "
                                                      "report here.")] = None,
        state_dir: StateDir = None,
    ) -> None:
        """Run a drill: a bounded Locust load, a fault at a set moment, a report of what was
        affected, how fast the system recovered and what data was lost (must be 0).

        Example: pgo-sandbox drill kill-dva --users 4 --duration 20s --fault-at 5s
        (see docs/drills.md)
        """
        from sandbox.drill import DrillError, DrillOptions, targets
        from sandbox.drill import run as run_drill

        check_name("drill", name, DRILLS)
        opts = DrillOptions(name, users=users, duration=seconds(duration),
                            fault_at=seconds(fault_at), fault_for=seconds(fault_for),
                            node=node, slow_ms=slow_ms, think_scale=think_scale)
        state = (state_dir or default_state_dir()).resolve()
        try:
            opts.check()
        except DrillError as exc:
            err.print(f"[red]{escape(str(exc))}[/]")
            raise typer.Exit(2) from exc
        if out is not None:  # before the sandbox is hit, as every usage error
            make_out_dir(out)
        if json_out is not None:
            make_out_file(json_out, "--json")
        sandbox = running_or_exit(state)
        if node is not None:
            check_name(f"node for {name}", node, targets(sandbox, name))
        opts.out_dir = out or state / REPORTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        try:
            report = run_drill(sandbox, opts, say=console.print)
        except DrillError as exc:
            err.print(f"[red]{type(exc).__name__}:[/] {escape(str(exc))}")
            raise typer.Exit(1) from exc
        console.print(table(report))
        for note in report["fault"]["notes"]:
            console.print(f"  {escape(note)}")
        console.print(f"report in {opts.out_dir} (drill.json, timeline.png)")
        if json_out:
            json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            console.print(f"report written to {json_out}")
        if not report["ok"]:
            for problem in report["problems"]:
                err.print(f"[red]{escape(problem)}[/]")
            raise typer.Exit(1)
