"""``pgo-sandbox population``: look at one synthetic person, or export many as FHIR.

The main CLI (sandbox/cli.py) calls :func:`register`; this module owns only its sub-commands.
"""

from __future__ import annotations

import json
import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from simulators.population.bsn import DOMAIN
from simulators.population.holders import ProviderRef
from simulators.population.population import Population
from simulators.population.summary import summarize

err = Console(stderr=True)


class Format(StrEnum):
    ndjson = "ndjson"
    bundle = "bundle"


Seed = Annotated[int | None, typer.Option(
    help="Population seed (default: the topology's): same seed, same people.")]
Size = Annotated[int | None, typer.Option(
    min=1, max=DOMAIN,
    help="Population size (default: the topology's; up to 81,000,000, NL is ~18M).")]
TopologyFile = Annotated[Path | None, typer.Option(
    "--topology", help="Topology TOML (default: the packaged one the sandbox runs).",
    exists=True, dir_okay=False)]


def _population(seed: int | None, size: int | None, topology: Path | None = None,
                at_least: int = 0) -> Population:
    """The population a sandbox with this topology serves: its providers, seed and size, so a
    BSN seen in the running sandbox is found here too."""
    from simulators.medmij.topology import TopologyError, load_topology

    try:
        topo = load_topology(topology)
    except TopologyError as exc:  # the user's --topology file
        err.print(f"[red]TopologyError[/red]: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    providers = tuple(ProviderRef(p.name, p.kind, p.display) for p in topo.providers)
    return Population(topo.seed if seed is None else seed,
                      max(topo.population if size is None else size, at_least), providers)


def show(
    bsn: Annotated[str | None, typer.Option(help="BSN of the person.")] = None,
    index: Annotated[int | None, typer.Option(min=0, help="Index of the person.")] = None,
    provider: Annotated[str | None, typer.Option(
        help="The first person (from --index on) with data at this provider.")] = None,
    seed: Seed = None,
    size: Size = None,
    topology: TopologyFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead.")] = False,
) -> None:
    """Print a readable summary of one person.

    Example: pgo-sandbox population show --index 42   (or --bsn 296348429, or --provider
    umcsandbox@medmij)
    """
    from sandbox.names import check_name

    pop = _population(seed, size, topology)
    if provider is not None:
        check_name("provider", provider, [p.name for p in pop.providers])
        if bsn is None:
            try:
                index = pop.find(provider, index or 0)
            except LookupError as exc:
                err.print(f"[red]LookupError[/red]: {escape(str(exc))}")
                raise typer.Exit(1) from exc
    if (bsn is None) == (index is None):
        err.print("[red]UsageError[/red]: give exactly one of --bsn or --index")
        raise typer.Exit(2)
    if bsn is not None:
        index = pop.index_of(bsn)
        if index is None:
            err.print(f"[red]LookupError[/red]: {escape(bsn)} is no BSN of this population")
            raise typer.Exit(1)
    assert index is not None
    if not 0 <= index < pop.size:  # a usage error: the valid range is the fix
        err.print(f"[red]UsageError[/red]: --index {index} is outside 0..{pop.size - 1} "
                  f"(the population's {pop.size:,} people)")
        raise typer.Exit(2)
    summary = summarize(pop, index)
    if as_json or not sys.stdout.isatty():
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=None if not as_json else 2))
        return
    table = Table(title=escape(f"{summary['name']} (index {index})"), show_header=False)
    for key, value in summary.items():
        if isinstance(value, dict):
            value = "; ".join(f"{k}: {','.join(v)}" for k, v in value.items())
        elif isinstance(value, list):
            value = "\n".join(value) or "-"
        table.add_row(key, escape(str(value)))
    Console().print(table)


def export(
    n: Annotated[int, typer.Option("--n", min=1, max=DOMAIN,
                                   help="How many people (indices 0..n-1).")] = 100,
    out: Annotated[Path, typer.Option(help="Output directory (created if missing; not a file).",
                                      file_okay=False)] = Path("population-export"),
    fmt: Annotated[Format, typer.Option("--format", help="ndjson or one Bundle per person.")] =
    Format.ndjson,
    seed: Seed = None,
    size: Size = None,
    topology: TopologyFile = None,
    summaries: Annotated[bool, typer.Option(help="Also write summaries.ndjson.")] = False,
    workers: Annotated[int, typer.Option(
        min=0, help="Worker processes (0: one per CPU). The output does not depend on it.")] = 0,
    chunk: Annotated[int | None, typer.Option(
        min=1, help="People per chunk (default from --n). A rerun must use the same.")] = None,
    concat: Annotated[bool, typer.Option(
        help="Join the part files into <provider>-<dienst>.ndjson while later chunks render "
             "(joined parts are deleted); --no-concat leaves parts/ as listed in "
             "manifest.json.")] = True,
    estimate_only: Annotated[bool, typer.Option(
        "--estimate-only", help="Print the size and time estimate and stop.")] = False,
) -> None:
    """Write the FHIR resources of the first N people, per provider and gegevensdienst.

    Worker processes render chunks of people into part files; a killed run resumes where it
    stopped when started again with the same options (see docs/benchmarks-population.md).

    Example: pgo-sandbox population export --n 1000 --format ndjson --out /tmp/pop
    """
    from simulators.population import export as job_export

    pop = _population(seed, size, topology, at_least=n)
    job = job_export.Job(pop.seed, pop.size, pop.providers, n, fmt.value,
                         chunk or job_export.default_chunk(n), summaries)
    guess = job_export.estimate(job, sample=min(200, n))
    n_workers = workers or os.cpu_count() or 1
    err.print(f"estimate: {n:,} people, about {job_export.human_bytes(guess.total_bytes(n))}"
              f" and {job_export.human_seconds(guess.seconds(n, n_workers))} on {n_workers}"
              " worker(s) with a core each "
              f"(from {guess.people_sampled} people sampled)")
    if estimate_only:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file on the way, no permission: before any work starts
        err.print(f"[red]UsageError[/red]: --out {escape(str(out))}: cannot create the folder "
                  f"({escape(exc.strerror or str(exc))})")
        raise typer.Exit(2) from None
    tty = sys.stderr.isatty()
    started = time.monotonic()
    try:
        if tty:
            progress = Progress("[progress.description]{task.description}", BarColumn(),
                                MofNCompleteColumn(), TimeRemainingColumn(), console=err)
            with progress:
                task = progress.add_task("exporting", total=n)
                manifest = job_export.run(
                    job, out, n_workers, concat,
                    lambda done, total: progress.update(task, completed=done))
        else:
            manifest = job_export.run(job, out, n_workers, concat,
                                      job_export.plain_progress(err.file))
    except job_export.ExportError as exc:
        err.print(f"[red]ExportError[/red]: {escape(str(exc))}")
        raise typer.Exit(1) from None
    spent = time.monotonic() - started
    total = sum(f["bytes"] for f in manifest["files"].values())
    err.print(f"wrote {n:,} people ({job_export.human_bytes(total)}) to {escape(str(out))} "
              f"in {spent:,.1f} s ({n / max(spent, 1e-9):,.0f} people/s)")


def register(app: typer.Typer) -> None:
    """Add the ``population`` sub-command group to the main CLI."""
    group = typer.Typer(help="Synthetic Dutch population. Example: population show --index 42",
                        no_args_is_help=True)
    group.command("show")(show)
    group.command("export")(export)
    app.add_typer(group, name="population")
