"""`pgo-sandbox simulate`: the national what-if model on the command line (issue 6).

The project's CLI calls `register(app)`; this module only parses options, shows progress and
prints. The model lives in model.py, presets in presets.py.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scenarios.national import calibration, model, presets, report
from scenarios.national.params import ServiceTimes
from scenarios.national.presets import Preset

HELP = (
    "Simulate the national PGO system over years (SimPy what-if model).\n\n"
    "Runs a preset from the policy documents (adoption, collects per DVA, consent lapsing, "
    "bankruptcies, MGO, financing) and prints a table per year. --json writes the full report "
    "with assumptions and sources; --plots writes PNGs (adoption, load per DVA, latency, cost). "
    "--compare runs several presets side by side in one table and one plot.\n\n"
    "Examples:\n\n"
    "pgo-sandbox simulate --list\n\n"
    "pgo-sandbox simulate --scenario growth-care-process --years 3 --seed 7 --json out/r.json\n\n"
    "pgo-sandbox simulate --compare medelkaar-carry-on medelkaar-shared medelkaar-central "
    "--plots out\n\n"
    "pgo-sandbox simulate --calibrate loadrun.json --plots out"
)


def _progress_printer(console: Console) -> tuple[Progress | None, model.Progress]:
    """A rich bar on a terminal, one plain line per simulated year otherwise."""
    if console.is_terminal:
        bar = Progress(TextColumn("{task.description}"), BarColumn(),
                       TextColumn("{task.completed}/{task.total} days"), TimeElapsedColumn(),
                       console=console, transient=True)
        return bar, lambda done, total: None

    def plain(done: int, total: int) -> None:
        if done % 360 == 0 or done == total:
            console.print(f"simulated {done}/{total} days", highlight=False)

    return None, plain


def _run(preset: Preset, years: int | None, seed: int, service: ServiceTimes | None,
         capacity_factor: float, window_requests: int | None, console: Console) -> model.Result:
    config = preset.config
    changes: dict[str, object] = {"capacity_factor": capacity_factor}
    if years is not None:
        changes["years"] = years
    if service is not None:
        changes["service"] = service
    if window_requests is not None:
        changes["window_requests"] = window_requests
    config = dataclasses.replace(config, **changes)  # type: ignore[arg-type]
    bar, plain = _progress_printer(console)
    if bar is None:
        return model.run(config, seed, plain)
    with bar:
        task = bar.add_task(escape(preset.name), total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return model.run(config, seed, update)


def _print_run(console: Console, preset: Preset, result: model.Result) -> None:
    console.print(report.year_table(result, f"{escape(preset.name)}: {escape(preset.question)}"))
    console.print(report.dva_table(result))
    for event in result.events:
        console.print(f"{event['date']} {event['kind']} of {escape(event['vendor'])}: "
                      f"{event['users']:,} users, {event['migrating']:,} migrating, "
                      f"{event['dropped']:,} dropping out; cut off by every DVA after "
                      f"{event.get('cut_off_minutes', '?')} min", highlight=False)
    _print_performance(console, result)


def _print_performance(console: Console, result: model.Result) -> None:
    perf = result.performance
    console.print(f"{result.config.population / 1e6:.1f}M citizens, {result.config.years} years: "
                  f"{perf['events']:,.0f} SimPy events in {perf['wall_s']:.2f} s "
                  f"({perf['events_per_s']:,.0f} events/s)", highlight=False)


def _list(console: Console) -> None:
    table = Table(title="Scenarios (presets)")
    for name in ("name", "years", "question"):
        table.add_column(name)
    for p in presets.PRESETS.values():
        cfg = p.config
        span = f"{cfg.start_year}-{cfg.start_year + cfg.years - 1}"
        table.add_row(p.name + (" (default)" if p.name == presets.DEFAULT else ""), span,
                      escape(p.question))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `simulate` command to `app`."""

    @app.command("simulate", help=HELP)
    def simulate(
        scenario: Annotated[str, typer.Option("--scenario", "-s", help="Preset name (--list)")]
        = presets.DEFAULT,
        years: Annotated[int | None, typer.Option(help="Years to simulate (default: preset's)",
                                                  min=1, max=40)] = None,
        seed: Annotated[int, typer.Option(help="Random seed; same seed, same result")] = 1,
        json_path: Annotated[Path | None, typer.Option("--json", help="Write the JSON report")]
        = None,
        plots_dir: Annotated[Path | None, typer.Option("--plots", help="Write PNG plots here")]
        = None,
        calibrate: Annotated[Path | None, typer.Option(
            help="Load-run JSON summary: measured service times for DVA capacity")] = None,
        compare: Annotated[bool, typer.Option(
            "--compare", help="Compare the scenarios given as arguments")] = False,
        names: Annotated[list[str] | None, typer.Argument(
            help="Scenarios for --compare", show_default=False)] = None,
        list_presets: Annotated[bool, typer.Option("--list", help="List the presets")] = False,
        capacity_factor: Annotated[float, typer.Option(
            help="Multiply every DVA's capacity (workers)", min=0.01)] = 1.0,
        window_requests: Annotated[int | None, typer.Option(
            help="Requests per simulated peak window (accuracy vs speed)", min=10)] = None,
    ) -> None:
        console = Console()
        if not console.is_terminal:  # files and pipes: wide enough for the tables, no wrap
            console = Console(width=160)
        errors = Console(stderr=True)
        if list_presets:
            _list(console)
            return
        try:
            service = calibration.load(calibrate) if calibrate else None
            if compare or names:
                if not compare or not names or len(names) < 2:
                    raise ValueError("use --compare with two or more scenario names")
                chosen = [presets.get(n) for n in names]
            else:
                chosen = [presets.get(scenario)]
        except ValueError as exc:
            errors.print(f"[red]{type(exc).__name__}[/red]: {escape(str(exc))}")
            raise typer.Exit(2) from exc
        if service is not None:
            console.print(f"calibrated service times from {escape(service.source)}: search "
                          f"median {service.search.median_ms:.1f} ms, p95 "
                          f"{service.search.p95_ms:.1f} ms", highlight=False)
        runs = [(p.name, _run(p, years, seed, service, capacity_factor, window_requests,
                              console)) for p in chosen]
        if len(runs) == 1:
            _print_run(console, chosen[0], runs[0][1])
        else:
            console.print(report.compare_table(runs))
            for _, result in runs:
                _print_performance(console, result)
        _write(console, chosen, runs, json_path, plots_dir)


def _write(console: Console, chosen: list[Preset], runs: list[tuple[str, model.Result]],
           json_path: Path | None, plots_dir: Path | None) -> None:
    if json_path:
        reports = [report.to_dict(r, p) for p, (_, r) in zip(chosen, runs, strict=True)]
        report.write_json(reports[0] if len(runs) == 1 else {"compare": reports}, json_path)
        console.print(f"report: {escape(str(json_path))}", highlight=False)
    if plots_dir:
        from scenarios.national import plots  # matplotlib is imported only when plotting

        if len(runs) == 1:
            paths = plots.write_all(runs[0][1], plots_dir)
        else:
            paths = [plots.compare(runs, plots_dir / "compare.png")]
        console.print("plots: " + ", ".join(escape(str(p)) for p in paths), highlight=False)


if __name__ == "__main__":  # handy for trying it without the project CLI
    _app = typer.Typer()
    register(_app)
    _app(sys.argv[1:])
