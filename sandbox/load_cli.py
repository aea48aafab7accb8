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
from rich.markup import escape
from rich.table import Table

from sandbox.cli_common import StateDir, make_out_dir, make_out_file
from sandbox.clock_cli import parse_duration
from sandbox.names import check_names
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


REPORTS = "load-reports"  # under the state directory, never the checkout


def seconds(text: str) -> float:
    """A duration as Locust users write it (``15s``, ``2m``, ``1h30m``) or plain seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError:
        raise typer.BadParameter(f"not a duration: {text!r} (use e.g. 60, 15s, 2m, 1h30m)") \
            from None


def reports_dir(state: Path, flow: str, out: Path | None) -> Path:
    """``--out``, else ``<state>/load-reports/<flow>-<time>/``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return out or state / REPORTS / f"{flow.replace(',', '+')}-{stamp}"


def print_failures(summary: dict, out_dir: Path) -> None:
    """Why the run failed, on the terminal: the top failure reasons with their counts (from
    Locust's flow_failures.csv, which otherwise only a reader of the CSV would see)."""
    from loadtests.run import failure_reasons

    reasons = failure_reasons(out_dir / "flow")
    err.print(f"[red]{summary['failures']} failed requests[/]; top reasons:")
    for r in reasons[:5]:
        err.print(f"  {r['occurrences']:>6} x {escape(r['method'])} {escape(r['name'])}: "
                  f"{escape(r['error'][:300])}")
    if not reasons:
        err.print("  (Locust recorded no reasons; see flow_failures.csv and flow.log)")


def print_soak(soak: dict) -> bool:
    """The soak's windows (load, then the nodes) and what kept growing; True if anything did."""
    load = Table(title=f"soak: every {soak['window_s']:.0f} s")
    for column in ("window", "req/s", "requests", "fail", "slowest step", "p50", "p95",
                   "p99 ms"):
        load.add_column(column, justify="left" if column == "slowest step" else "right")
    for w in soak["windows"]:
        steps = {k: v for k, v in w["steps"].items() if not k.startswith("FLOW ")}
        name, s = max(steps.items(), key=lambda kv: kv[1]["p95_ms"], default=("", {}))
        load.add_row(str(w["window"] + 1), f"{w['requests_per_s']:.1f}", str(w["requests"]),
                     str(w["failures"]), escape(name[:40]), f"{s.get('p50_ms', 0):.0f}",
                     f"{s.get('p95_ms', 0):.0f}", f"{s.get('p99_ms', 0):.0f}")
    console.print(load)
    if soak["sampled"] and soak["windows"]:
        nodes = Table(title="nodes at the end of each window: RSS MB / sockets / SQLite MB")
        nodes.add_column("node", no_wrap=True)
        for w in soak["windows"]:
            nodes.add_column(str(w["window"] + 1), justify="right")
        for node in sorted(soak["windows"][-1]["nodes"]):
            cells = []
            for w in soak["windows"]:
                n = w["nodes"].get(node)
                cells.append(f"{n['rss_mb']:.0f}/{n['sockets']}/{n['sqlite_mb']:.1f}"
                             if n else "")
            nodes.add_row(node, *cells)
        console.print(nodes)
    elif not soak["sampled"]:
        console.print("[dim]node memory, sockets and SQLite are sampled in the local runtime "
                      "only[/]")
    for g in soak["growth"]:
        err.print(f"[red]still growing:[/] {g['node']} {g['metric']} rose "
                  f"{g['second_half_rise']} in the second half (first half {g['first_half_rise']}"
                  f", allowed {g['allowed']})")
    if soak["sampled"] and not soak["growth"]:
        console.print("[green]soak: nothing kept growing[/]")
    return bool(soak["growth"])


def register(app: typer.Typer) -> None:
    """Add the ``load`` command to the pgo-sandbox CLI."""

    @app.command()
    def load(
        flow: Annotated[str, typer.Argument(help="collect, longlived, inspection, registry, "
                                            "search, pgo, share, portability or mixed; "
                                            "several joined by commas.")],
        users: Annotated[int, typer.Option("--users", "-u", min=1, help="Concurrent users "
                                           "(peak with --shape).")] = 10,
        spawn_rate: Annotated[float, typer.Option("--spawn-rate", "-r",
                                                  help="Users started per second.")] = 5.0,
        duration: Annotated[str, typer.Option("--duration", "-t", help="How long: 60 (seconds), "
                                              "15s, 2m, 1h30m.")] = "60",
        json_out: Annotated[Path | None, typer.Option("--json", help="Also write the JSON "
                                                      "summary here.")] = None,
        out: Annotated[Path | None, typer.Option(help="Folder for Locust's CSV and HTML "
                                                 "reports (default <state>/load-reports/"
                                                 "<flow>-<time>).")] = None,
        web: Annotated[bool, typer.Option("--web", help="Open Locust's web UI instead of a "
                                          "headless run, its form filled with --users, "
                                          "--spawn-rate and --duration.")] = False,
        autostart: Annotated[bool, typer.Option("--autostart", help="With --web: start at "
                                                "once and stop after --duration.")] = False,
        web_port: Annotated[int, typer.Option(min=1, max=65535,
                                              help="Port of the web UI.")] = 8089,
        workers: Annotated[int, typer.Option(help="Run a Locust master with this many worker "
                                             "processes here (0: one process).")] = 0,
        worker_containers: Annotated[bool, typer.Option(
            "--worker-containers", help="Run the master and the --workers as containers on the "
            "sandbox's own network (docker, compose or swarm runtime), addressing the nodes "
            "by their hostnames there.")] = False,
        shape: Annotated[str | None, typer.Option(help="'morning': a busy morning peak over "
                                                  "--duration, --users at the peak.")] = None,
        ceiling: Annotated[bool, typer.Option(help="Also measure the bare ASGI endpoint in "
                                              "the same run.")] = True,
        ceiling_users: Annotated[int | None, typer.Option(help="Users on the ceiling "
                                                          "(default min(users, 100)).")] = None,
        ceiling_duration: Annotated[str | None, typer.Option(
            help="How long on the ceiling (default min(duration, 20 s)).")] = None,
        think_scale: Annotated[float, typer.Option(help="Multiply think times (0: none).")] =
        1.0,
        max_requests: Annotated[int, typer.Option(help="Stop after this many requests.")] =
        2_000_000,
        services: Annotated[str, typer.Option(help="Gegevensdiensten a collect searches.")] =
        "48,63",
        window: Annotated[str | None, typer.Option(
            help="Soak: report every window (e.g. 5m) with the nodes' memory, sockets and "
            "SQLite sizes; exit 1 when something keeps growing.")] = None,
        state_dir: StateDir = None,
    ) -> None:
        """Load a MedMij flow with Locust: per-step and end-to-end latency, and the ceiling.

        Example: pgo-sandbox load collect --users 20 --spawn-rate 5 --duration 2m --json
        load.json   (see docs/load-testing.md); a soak: pgo-sandbox load mixed --shape morning
        --users 40 --duration 30m --window 5m; in containers beside a docker sandbox:
        pgo-sandbox load collect --workers 2 --worker-containers --duration 30s
        """
        from loadtests.run import FLOWS, LoadError, LoadOptions
        from loadtests.run import run as run_load
        from loadtests.run import web as run_web

        if autostart and not web:
            raise typer.BadParameter("--autostart starts the web UI's run: use it with --web")
        if worker_containers and web:
            raise typer.BadParameter("--worker-containers runs headless (reports in the "
                                     "report folder): drop --web")
        if worker_containers and workers < 1:
            raise typer.BadParameter("--worker-containers starts --workers N containers: "
                                     "give --workers 1 or more")
        check_names("flow", [f.strip() for f in flow.split(",") if f.strip()] or [flow], FLOWS)
        run_seconds = seconds(duration)  # usage errors before "no sandbox is running"
        ceiling_seconds = seconds(ceiling_duration) if ceiling_duration else None
        window_seconds = seconds(window) if window else None
        state = (state_dir or default_state_dir()).resolve()
        opts = LoadOptions(
            flow=flow, users=users, spawn_rate=spawn_rate, duration=run_seconds,
            out_dir=reports_dir(state, flow, out),
            workers=workers, shape=shape, ceiling=ceiling, ceiling_users=ceiling_users,
            ceiling_duration=ceiling_seconds,
            think_scale=think_scale, max_requests=max_requests, services=services,
            window=window_seconds, containers=worker_containers)
        try:
            opts.check()  # --users 0, --spawn-rate 0: a usage error, not "LoadError" exit 1
        except LoadError as exc:
            err.print(f"[red]{escape(str(exc))}[/]", highlight=False)
            raise typer.Exit(2) from exc
        if out is not None:  # before the sandbox is hit, as every usage error
            make_out_dir(out)
        if json_out is not None:
            make_out_file(json_out, "--json")
        try:
            sandbox = running(state)
        except NotRunning as exc:
            err.print(f"[red]{type(exc).__name__}:[/] {exc}")
            raise typer.Exit(2) from exc
        try:
            if web:
                console.print(f"Locust UI at [bold]http://127.0.0.1:{web_port}[/] "
                              f"({users} users, {opts.duration:.0f} s"
                              + (", starting now" if autostart else "; press Start")
                              + "; Ctrl-C to stop)")
                code = run_web(sandbox, opts, web_port, autostart)
                if autostart:
                    console.print(f"reports in {opts.out_dir}")
                raise typer.Exit(code)
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
        grew = print_soak(summary["soak"]) if summary.get("soak") else False
        console.print(f"reports in {opts.out_dir}")
        if json_out:
            import json

            json_out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            console.print(f"summary written to {json_out}")
        if summary["failures"]:
            print_failures(summary, opts.out_dir)
            raise typer.Exit(1)
        if grew:
            raise typer.Exit(1)
