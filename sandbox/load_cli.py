"""``pgo-sandbox load``: Locust against the running sandbox, side by side with the ceiling.

Thin: loadtests/run.py does the work. The lead wires it into sandbox/cli.py with
``register(app)``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sandbox.state import NotRunning, default_state_dir, running

console = Console()
err = Console(stderr=True)


def _table(summary: dict) -> Table:
    ratios = summary.get("ratios", {}).get("steps", {})
    table = Table(title=f"load {summary['flow']}: {summary['flows_per_s']} flows/s, "
                  f"{summary['requests_per_s']} req/s, {summary['failures']} failures, "
                  f"{summary['duration_s']} s")
    for column in ("step", "requests", "fail", "req/s", "p50 ms", "p95 ms", "p99 ms",
                   "x ceiling"):
        table.add_column(column, justify="left" if column == "step" else "right",
                         no_wrap=column == "step")
    rows = list(summary["steps"].items())
    if summary.get("ceiling"):
        rows.append(("[dim]ceiling (bare ASGI)[/]", summary["ceiling"]))
    for name, s in rows:
        ratio = ratios.get(name)
        table.add_row(name, str(s["requests"]), str(s["failures"]), f"{s['rps']:.1f}",
                      f"{s['p50_ms']:.0f}", f"{s['p95_ms']:.0f}", f"{s['p99_ms']:.0f}",
                      f"{ratio:.3f}" if ratio is not None else "")
    return table


def register(app: typer.Typer) -> None:
    """Add the ``load`` command to the pgo-sandbox CLI."""

    @app.command()
    def load(
        flow: Annotated[str, typer.Argument(help="collect, longlived, inspection, registry, "
                                            "search, pgo, share, portability or mixed; "
                                            "several joined by commas.")],
        users: Annotated[int, typer.Option("--users", "-u", help="Concurrent users (peak "
                                           "with --shape).")] = 10,
        spawn_rate: Annotated[float, typer.Option("--spawn-rate", "-r",
                                                  help="Users started per second.")] = 5.0,
        duration: Annotated[float, typer.Option("--duration", "-t",
                                                help="Seconds of load.")] = 60.0,
        json_out: Annotated[Path | None, typer.Option("--json", help="Also write the JSON "
                                                      "summary here.")] = None,
        out: Annotated[Path | None, typer.Option(help="Folder for Locust's CSV and HTML "
                                                 "reports (default load-reports/<flow>-"
                                                 "<time>).")] = None,
        web: Annotated[bool, typer.Option("--web", help="Open Locust's web UI instead of a "
                                          "headless run.")] = False,
        web_port: Annotated[int, typer.Option(help="Port of the web UI.")] = 8089,
        workers: Annotated[int, typer.Option(help="Run a Locust master with this many worker "
                                             "processes here (0: one process).")] = 0,
        shape: Annotated[str | None, typer.Option(help="'morning': a busy morning peak over "
                                                  "--duration, --users at the peak.")] = None,
        ceiling: Annotated[bool, typer.Option(help="Also measure the bare ASGI endpoint in "
                                              "the same run.")] = True,
        ceiling_users: Annotated[int | None, typer.Option(help="Users on the ceiling "
                                                          "(default min(users, 100)).")] = None,
        ceiling_duration: Annotated[float | None, typer.Option(
            help="Seconds on the ceiling (default min(duration, 20)).")] = None,
        think_scale: Annotated[float, typer.Option(help="Multiply think times (0: none).")] =
        1.0,
        max_requests: Annotated[int, typer.Option(help="Stop after this many requests.")] =
        2_000_000,
        services: Annotated[str, typer.Option(help="Gegevensdiensten a collect searches.")] =
        "48,63",
        state_dir: Annotated[Path | None, typer.Option("--state-dir", help="The sandbox's "
                                                       "state directory.")] = None,
    ) -> None:
        """Load a MedMij flow with Locust: per-step and end-to-end latency, and the ceiling.

        Example: pgo-sandbox load collect --users 20 --spawn-rate 5 --duration 60 --json
        load.json   (see docs/load-testing.md)
        """
        from loadtests.run import LoadError, LoadOptions
        from loadtests.run import run as run_load
        from loadtests.run import web as run_web

        try:
            sandbox = running((state_dir or default_state_dir()).resolve())
        except NotRunning as exc:
            err.print(f"[red]{type(exc).__name__}:[/] {exc}")
            raise typer.Exit(2) from exc
        stamp = time.strftime("%Y%m%d-%H%M%S")
        opts = LoadOptions(
            flow=flow, users=users, spawn_rate=spawn_rate, duration=duration,
            out_dir=out or Path("load-reports") / f"{flow.replace(',', '+')}-{stamp}",
            workers=workers, shape=shape, ceiling=ceiling, ceiling_users=ceiling_users,
            ceiling_duration=ceiling_duration, think_scale=think_scale,
            max_requests=max_requests, services=services)
        try:
            if web:
                console.print(f"Locust UI at [bold]http://127.0.0.1:{web_port}[/] "
                              "(Ctrl-C to stop)")
                raise typer.Exit(run_web(sandbox, opts, web_port))
            summary = run_load(sandbox, opts, say=console.print)
        except LoadError as exc:
            err.print(f"[red]{type(exc).__name__}:[/] {exc}")
            raise typer.Exit(1) from exc
        console.print(_table(summary))
        if summary.get("ceiling"):
            r = summary["ratios"]
            console.print(f"ceiling {summary['ceiling']['rps']:.0f} req/s; requests "
                          f"{r['requests_per_s']:.3f} x ceiling, searches "
                          f"{r['search_requests_per_s']:.3f} x ceiling")
        console.print(f"reports in {opts.out_dir}")
        if json_out:
            import json

            json_out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            console.print(f"summary written to {json_out}")
        if summary["failures"]:
            raise typer.Exit(1)
