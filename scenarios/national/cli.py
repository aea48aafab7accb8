"""`pgo-sandbox simulate`: the national what-if model on the command line (issue 6).

The project's CLI calls `register(app)`; this module only parses options, shows progress and
prints. The model lives in model.py, presets in presets.py.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sandbox.names import check_names
from scenarios.national import assumptions, calibration, model, presets, report, uncertainty
from scenarios.national.params import Bankruptcy, ServiceTimes
from scenarios.national.presets import Preset

HELP = (
    "Simulate the national PGO system over years (SimPy what-if model).\n\n"
    "Runs a preset from the policy documents (adoption, collects per DVA, consent lapsing, "
    "bankruptcies, Mijn Gezondheidsoverzicht, financing) from 2020 and prints a table per year. "
    "Every number is in the assumptions register (--assumptions): a source file:line in "
    "../shared/policy/ or inferred with a range. --json writes the full report with the "
    "register; --plots writes PNGs; --compare runs several presets side by side; "
    "--replications N samples the inferred ranges (Latin hypercube) and reports medians with "
    "80%/95% intervals and a tornado; --calibrate fits the history to the observed figures; "
    "--bankrupt runs a vendor-failure drill; --brief writes a one-page PDF (NL/EN).\n\n"
    "Examples:\n\n"
    "pgo-sandbox simulate --list\n\n"
    "pgo-sandbox simulate --assumptions\n\n"
    "pgo-sandbox simulate --scenario growth-care-process --seed 7 --json out/r.json\n\n"
    "pgo-sandbox simulate --compare medelkaar-carry-on medelkaar-shared medelkaar-central "
    "--plots out\n\n"
    "pgo-sandbox simulate --replications 20 --cores 2 --plots out --brief out/brief.pdf\n\n"
    "pgo-sandbox simulate --replications 100 --dask-scheduler tcp://host:8786\n\n"
    "pgo-sandbox simulate --calibrate --fit-out out/fit.json\n\n"
    "pgo-sandbox simulate --bankrupt pgo-02 --on 2026-03-01 --migrate-share 0.5 "
    "--curator-window 60\n\n"
    "pgo-sandbox simulate --service-times loadrun.json --plots out"
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


@dataclasses.dataclass(frozen=True, slots=True)
class Overrides:
    """What the command line changes in a preset's config."""

    years: int | None = None
    service: ServiceTimes | None = None
    capacity_factor: float = 1.0
    window_requests: int | None = None
    fitted: dict[str, object] | None = None
    drill: Bankruptcy | None = None


def _config(preset: Preset, o: Overrides) -> model.Config:
    config = preset.config
    if o.fitted:
        config = assumptions.apply(config, o.fitted)
    changes: dict[str, object] = {"capacity_factor": o.capacity_factor}
    if o.years is not None:
        changes["years"] = o.years
    if o.service is not None:
        changes["service"] = o.service
    if o.window_requests is not None:
        changes["window_requests"] = o.window_requests
    if o.drill is not None:
        known = {d.name for d in config.dvps}
        if o.drill.vendor not in known:
            raise ValueError(f"unknown vendor {o.drill.vendor!r}; known: "
                             f"{', '.join(sorted(known))}")
        changes["bankruptcies"] = (*config.bankruptcies, o.drill)
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def _run(preset: Preset, config: model.Config, seed: int, console: Console) -> model.Result:
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
                      f"{event['users']:,} users, {event['migrating']:,} migrating within "
                      f"{event['window_days']} days, {event['lose_access_for_good']:,} lose access "
                      f"for good, migrants ~{event['mean_days_without_access_migrants']} days "
                      f"without; {event['provider_collects_to_redo']:,} provider collects and "
                      f"consents at DVAs to redo; cut off by every DVA after "
                      f"{event.get('cut_off_minutes', '?')} min", highlight=False)
    console.print(report.history_table(result, preset))
    console.print(report.outcome_table(result))
    console.print(report.plateau_table(result))
    console.print(report.segment_table(result))
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
        calibrate: Annotated[bool, typer.Option(
            "--calibrate", help="Fit the history (2020-2025) to the observed figures with "
            "scipy; writes the fitted parameters to --fit-out")] = False,
        fit_out: Annotated[Path, typer.Option(help="Where --calibrate writes its fit")]
        = Path("national-fit.json"),
        fitted: Annotated[Path | None, typer.Option(
            help="Use fitted parameters from a --calibrate file")] = None,
        service_times: Annotated[Path | None, typer.Option(
            help="Load-run JSON summary (pgo-sandbox load ... --json): measured DVA service "
            "times")] = None,
        show_assumptions: Annotated[bool, typer.Option(
            "--assumptions", help="Print the assumptions register (source or range)")] = False,
        replications: Annotated[int, typer.Option(
            help="Replications over the inferred ranges (Latin hypercube)", min=1)] = 1,
        cores: Annotated[int | None, typer.Option(help="Processes for --replications", min=1)]
        = None,
        dask_scheduler: Annotated[str | None, typer.Option(
            help="Run --replications on a Dask cluster: scheduler address (tcp://host:8786) or "
            "'local[:N]' for a LocalCluster; needs pip install 'dask[distributed]'")] = None,
        bankrupt: Annotated[str | None, typer.Option(
            help="Drill: this vendor fails (e.g. pgo-02)")] = None,
        on: Annotated[str | None, typer.Option(help="Drill: failure date YYYY-MM-DD")] = None,
        migrate_share: Annotated[float, typer.Option(
            help="Drill: share of its users who take a portability report elsewhere",
            min=0.0, max=1.0)] = 0.6,
        curator_window: Annotated[int, typer.Option(
            help="Drill: days the curator keeps data for portability", min=1)] = 90,
        brief: Annotated[Path | None, typer.Option(
            help="Write a one-page policy brief (PDF, Dutch and English)")] = None,
        compare: Annotated[bool, typer.Option(
            "--compare", help="Compare the scenarios given as arguments")] = False,
        names: Annotated[list[str] | None, typer.Argument(
            help="Scenarios for --compare", show_default=False)] = None,
        list_presets: Annotated[bool, typer.Option("--list", help="List the presets")] = False,
        capacity_factor: Annotated[float, typer.Option(
            help="Multiply every DVA's capacity (workers)", min=0.01)] = 1.0,
        window_requests: Annotated[int | None, typer.Option(
            help="Requests per simulated peak window (accuracy vs speed)", min=10)] = None,
        lang: Annotated[str, typer.Option(
            help="Language of the plot labels: en or nl")] = "en",
    ) -> None:
        console = Console()
        if not console.is_terminal:  # files and pipes: 100 columns, what the tables fit
            console = Console(width=100)
        errors = Console(stderr=True)
        if lang not in ("en", "nl"):
            errors.print(f"[red]ValueError[/red]: --lang: use en or nl, not {escape(lang)!r}")
            raise typer.Exit(2)
        if list_presets:
            _list(console)
            return
        # a mistyped preset: the one wording of every name check, no "ValueError:" prefix
        check_names("scenario", names or [scenario], presets.PRESETS)
        try:
            overrides = Overrides(
                years=years, capacity_factor=capacity_factor, window_requests=window_requests,
                service=calibration.load(service_times) if service_times else None,
                fitted=calibration.load_fit(fitted) if fitted else None,
                drill=_drill(bankrupt, on, migrate_share, curator_window))
            if compare or names:
                if not compare or not names or len(names) < 2:
                    raise ValueError("use --compare with two or more scenario names")
                chosen = [presets.get(n) for n in names]
            else:
                chosen = [presets.get(scenario)]
            configs = [_config(p, overrides) for p in chosen]
        except ValueError as exc:
            errors.print(f"[red]{type(exc).__name__}[/red]: {escape(str(exc))}")
            raise typer.Exit(2) from exc
        if show_assumptions:
            console.print(report.assumptions_table())
            if json_path:
                report.write_json({"assumptions": report.register()}, json_path)
                console.print(f"register: {escape(str(json_path))}", highlight=False)
            return
        if calibrate:
            _calibrate(console, configs[0], seed, fit_out)
            return
        if overrides.service is not None:
            svc = overrides.service
            console.print(f"measured service times from {escape(svc.source)}: search "
                          f"median {svc.search.median_ms:.1f} ms, p95 "
                          f"{svc.search.p95_ms:.1f} ms", highlight=False)
        runs = [(p.name, _run(p, c, seed, console)) for p, c in zip(chosen, configs, strict=True)]
        if len(runs) == 1:
            _print_run(console, chosen[0], runs[0][1])
        else:
            console.print(report.compare_table(runs))
            for _, result in runs:
                _print_performance(console, result)
        spread = None
        if replications > 1:
            drawn = len(uncertainty.parameters(configs[0]))
            console.print(f"{replications} replications over {drawn} "
                          f"inferred ranges (Latin hypercube, seed {seed}) ...", highlight=False)
            if dask_scheduler:
                try:
                    with uncertainty.dask_executor(dask_scheduler) as executor:
                        spread = uncertainty.ensemble(configs[0], replications, seed,
                                                      mapper=executor)
                except (ValueError, OSError) as exc:
                    errors.print(f"[red]{type(exc).__name__}[/red]: {escape(str(exc))}")
                    raise typer.Exit(2) from exc
                spread["executor"] = f"dask {dask_scheduler}"
            else:
                spread = uncertainty.ensemble(configs[0], replications, seed, cores)
            console.print(report.uncertainty_table(spread, chosen[0].name))
            console.print(report.iza_band_table(spread))
            console.print(report.tornado_table(spread))
        else:
            console.print("one replication: intervals and the parameters that drive the result "
                          "need --replications N (e.g. 20)", highlight=False)
        _write(console, chosen, runs, json_path, plots_dir, spread, lang)
        if brief:
            from scenarios.national import brief as onepager

            onepager.write(brief, chosen[0], runs[0][1], spread)
            console.print(f"brief: {escape(str(brief))}", highlight=False)


def _drill(vendor: str | None, on: str | None, share: float, window: int) -> Bankruptcy | None:
    """The --bankrupt drill as a Bankruptcy, or None; ValueError on a bad date."""
    if vendor is None:
        if on is not None:
            raise ValueError("--on needs --bankrupt VENDOR")
        return None
    if on is None:
        raise ValueError("--bankrupt needs --on YYYY-MM-DD")
    try:
        when = date.fromisoformat(on)
    except ValueError:
        raise ValueError(f"--on: not a date (YYYY-MM-DD): {on!r}") from None
    return Bankruptcy(vendor, when, share, window)


def _calibrate(console: Console, config: model.Config, seed: int, path: Path) -> None:
    console.print("fitting the history 2020-2025 to the observed figures (scipy least_squares)"
                  " ...", highlight=False)
    fit = calibration.fit(config, seed)
    calibration.write_fit(fit, path)
    console.print(report.fit_table(fit))
    console.print(f"{fit['evaluations']} model runs in {fit['seconds']:.0f} s ({fit['status']});"
                  f" fitted parameters: {escape(str(path))} (use them with --fitted)",
                  highlight=False)


def _write(console: Console, chosen: list[Preset], runs: list[tuple[str, model.Result]],
           json_path: Path | None, plots_dir: Path | None,
           spread: dict[str, object] | None, lang: str = "en") -> None:
    if json_path:
        reports = [report.to_dict(r, p) for p, (_, r) in zip(chosen, runs, strict=True)]
        if spread is not None:
            reports[0]["uncertainty"] = spread
        report.write_json(reports[0] if len(runs) == 1 else {"compare": reports}, json_path)
        console.print(f"report: {escape(str(json_path))}", highlight=False)
    if plots_dir:
        from scenarios.national import plots  # matplotlib is imported only when plotting

        if len(runs) == 1:
            paths = plots.write_all(runs[0][1], plots_dir, runs[0][0], lang)
        else:
            paths = [plots.compare(runs, plots_dir / "compare.png", lang)]
        if spread is not None:
            paths += plots.uncertainty(spread, plots_dir, runs[0][0], lang)
        console.print("plots: " + ", ".join(escape(str(p)) for p in paths), highlight=False)


if __name__ == "__main__":  # handy for trying it without the project CLI
    _app = typer.Typer()
    register(_app)
    _app(sys.argv[1:])
