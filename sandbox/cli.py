"""The pgo-sandbox command line: bring the ecosystem up, drive scenarios, inspect it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from sandbox.clock_cli import register as register_clock
from sandbox.conformance_cli import register as register_conformance
from sandbox.load_cli import register as register_load
from sandbox.pki_cli import register as register_pki
from sandbox.runtime import (
    LAST_RUNTIME_FILE,
    Runtime,
    UnknownRuntime,
    runtime_for,
    runtime_named,
)
from sandbox.runtime.local import DEFAULT_BASE_PORT, LocalRuntime
from sandbox.state import NotRunning, RuntimeInfo, default_state_dir, running
from scenarios.national.cli import register as register_national
from simulators.medmij import LIST_PATHS
from simulators.medmij.topology import TopologyError, load_topology
from simulators.population.cli import register as register_population

app = typer.Typer(
    help="A local MedMij ecosystem: registry, DigiD, DVAs, DVPs (PGOs) and the inspection "
    "function, with synthetic patients and scenarios.\n\nExample: pgo-sandbox up && "
    "pgo-sandbox scenario run collect",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
scenario_app = typer.Typer(help="Run named scenarios against the running sandbox.\n\n"
                           "Example: pgo-sandbox scenario run collect --json collect.json",
                           no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")
console = Console()
err = Console(stderr=True)

StateDir = Annotated[Path | None, typer.Option(
    "--state-dir", help="Where the sandbox keeps its state (default $PGO_SANDBOX_HOME or "
    "~/.pgo-sandbox).", show_default=False)]
TopologyOpt = Annotated[Path | None, typer.Option(
    "--topology", help="A topology TOML file instead of the packaged default.", exists=True,
    dir_okay=False)]


def _state(state_dir: Path | None) -> Path:
    return (state_dir or default_state_dir()).resolve()


def _runtime(name: str, state_dir: Path) -> Runtime:
    try:
        return runtime_named(name, state_dir)
    except UnknownRuntime as exc:
        raise typer.BadParameter(str(exc)) from exc


def _runtime_of(state_dir: Path) -> tuple[Runtime, RuntimeInfo | None]:
    """The runtime of the sandbox under state_dir (see ``runtime_for``) and its info."""
    info = RuntimeInfo.load(state_dir)
    try:
        return runtime_for(info, state_dir), info
    except UnknownRuntime as exc:
        raise typer.BadParameter(str(exc)) from exc


def _nodes_table(title: str, rows) -> Table:
    rows = list(rows)
    table = Table(title=title)
    table.add_column("node", no_wrap=True)
    table.add_column("role")
    table.add_column("hostname", overflow="fold")
    # people copy the URL: never cut it, whatever the terminal's width
    table.add_column("url", no_wrap=True, min_width=max((len(s.url) for s in rows), default=3))
    table.add_column("health")
    table.add_column("restarts", justify="right")
    for s in rows:
        table.add_row(s.node, s.role, s.hostname, s.url,
                      "[green]healthy[/]" if s.healthy else f"[red]down[/] {escape(s.detail)}",
                      str(s.restarts))
    return table


@app.command()
def up(
    topology: TopologyOpt = None,
    runtime: Annotated[str, typer.Option(help="local (processes) or docker (containers).")] =
    "local",
    base_port: Annotated[int, typer.Option(help="First port on 127.0.0.1 (local runtime).")] =
    DEFAULT_BASE_PORT,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all nodes.")] = 60.0,
    reference: Annotated[list[str] | None, typer.Option(
        help="PROVIDER=FOLDER: serve the FHIR test patients in FOLDER (e.g. the Nictiz "
        "qualification data) as extra patients of PROVIDER. Repeatable; local runtime.")] = None,
    state_dir: StateDir = None,
) -> None:
    """Start every node of the topology and wait until all are healthy.

    Example: pgo-sandbox up --topology my-topology.toml
    """
    state = _state(state_dir)
    try:
        topo = load_topology(topology)
    except TopologyError as exc:
        raise typer.BadParameter(str(exc)) from exc
    reference_data = []
    for item in reference or []:
        provider, eq, folder = item.partition("=")
        if not eq or provider not in {p.name for p in topo.providers}:
            raise typer.BadParameter(f"--reference {item!r}: want PROVIDER=FOLDER with a "
                                     "provider of the topology")
        if not Path(folder).is_dir():
            raise typer.BadParameter(f"--reference {item!r}: no folder {folder}")
        reference_data.append((provider, str(Path(folder).resolve())))
    extra = {"reference_data": tuple(reference_data)} if reference_data else {}
    rt = _runtime(runtime, state)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), console=console, transient=True) as progress:
        task = progress.add_task(f"starting {len(topo.nodes)} nodes ({runtime})",
                                 total=len(topo.nodes))
        try:
            info = rt.up(topo, base_port=base_port, timeout=timeout,
                         on_progress=lambda _: progress.advance(task), **extra)
        except (RuntimeError, TimeoutError) as exc:
            console.print(f"[red]up failed:[/] {escape(str(exc))}")  # a node's log tail
            raise typer.Exit(1) from exc
    (state / LAST_RUNTIME_FILE).write_text(runtime)
    console.print(_nodes_table(f"pgo-sandbox ({runtime}, profile {info.profile})",
                               rt.status(info, topo)))
    console.print(f"healthy in [bold]{info.healthy_seconds:.2f} s[/]; state in {state}")
    console.print("next: [bold]pgo-sandbox scenario run collect[/]")


@app.command()
def status(state_dir: StateDir = None,
           as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False
           ) -> None:
    """Show every node of the running sandbox and whether it is healthy.

    Example: pgo-sandbox status --json
    """
    state = _state(state_dir)
    try:
        sandbox = running(state)
    except NotRunning as exc:
        console.print(str(exc))
        raise typer.Exit(1) from exc
    rt, info = _runtime_of(state)
    rows = rt.status(info, sandbox.topology)
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        console.print(_nodes_table(f"pgo-sandbox ({info.runtime})", rows))
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


@app.command()
def down(state_dir: StateDir = None) -> None:
    """Stop every node; stored data stays until `reset`.

    Example: pgo-sandbox down
    """
    state = _state(state_dir)
    rt, info = _runtime_of(state)
    if info is None:
        console.print("nothing running")
        return
    stopped = rt.down()
    console.print(f"stopped {stopped} nodes")


@app.command()
def reset(state_dir: StateDir = None) -> None:
    """Return to the seeded state: forget grants, collected data and registry edits.

    A running sandbox is restarted with the same topology. Example: pgo-sandbox reset
    """
    state = _state(state_dir)
    rt, info = _runtime_of(state)
    if info is None:
        rt.wipe()
        console.print(f"state under {state} wiped")
        return
    sandbox = running(state)
    rt.down()
    rt.wipe()
    base_port = min(int(u.rsplit(":", 1)[1]) for u in info.addresses.values())
    info = rt.up(sandbox.topology, base_port=base_port)
    console.print(f"reset and restarted; healthy in {info.healthy_seconds:.2f} s")


@app.command()
def logs(node: Annotated[str, typer.Argument(help="Node id, e.g. dva-nexus.")],
         lines: Annotated[int, typer.Option(help="How many lines from the end.")] = 50,
         state_dir: StateDir = None) -> None:
    """Print the end of one node's log (hop lines carry corr= and req= ids).

    Example: pgo-sandbox logs dva-nexus --lines 20
    """
    state = _state(state_dir)
    rt, _ = _runtime_of(state)
    text = rt.logs(node)
    if isinstance(text, Path):
        if not text.exists():
            raise typer.BadParameter(f"no log for node {node!r}")
        text = text.read_text("utf-8", errors="replace")
    print("\n".join(text.splitlines()[-lines:]))


@app.command("lists")
def lists_cmd(
    out: Annotated[Path, typer.Option(help="Folder to write the four XML files to.")],
    profile: Annotated[str, typer.Option(help="medmij (https hostnames, XSD-valid) or "
                                         "loopback.")] = "medmij",
    topology: TopologyOpt = None,
    base_port: Annotated[int, typer.Option(help="Ports for the loopback profile.")] =
    DEFAULT_BASE_PORT,
) -> None:
    """Write the MedMij lists (ZAL, OCL, Whitelist, GNL) of a topology to files.

    Example: pgo-sandbox lists --profile medmij --out lists/
    """
    from simulators.common.config import PROFILES, SandboxConfig
    from simulators.registry.state import RegistryState

    if profile not in PROFILES:
        raise typer.BadParameter(f"profile must be one of {PROFILES}")
    topo = load_topology(topology)
    addresses = LocalRuntime(Path(".")).addresses(topo, base_port)
    config = SandboxConfig(topo, profile, addresses, out)
    state = RegistryState(config, None)
    out.mkdir(parents=True, exist_ok=True)
    for kind, path in LIST_PATHS.items():
        (out / path.lstrip("/")).write_bytes(state.render(kind))
        console.print(f"wrote {out / path.lstrip('/')}")


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
    try:
        sandbox = running(_state(state_dir))
    except NotRunning as exc:
        console.print(str(exc))
        raise typer.Exit(2) from exc
    if name == "collect":
        from scenarios import collect

        report = collect.run(sandbox, dvp=dvp, provider=provider, service=service)
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
    else:
        raise typer.BadParameter(f"unknown scenario {name!r}; known: collect, inspection, "
                                 "share, long-lived-consent, portability, bankruptcy")
    report.print(console)
    if json_out:
        report.write_json(json_out)
        console.print(f"report written to {json_out}")
    if not report.ok:
        raise typer.Exit(1)


vendor_app = typer.Typer(help="A PGO vendor's exit: bankruptcy, settlement, readmission.\n\n"
                         "Example: pgo-sandbox vendor bankrupt pgo-gamma",
                         no_args_is_help=True)
app.add_typer(vendor_app, name="vendor")


def _running_or_exit(state_dir: Path | None):
    try:
        return running(_state(state_dir))
    except NotRunning as exc:
        console.print(str(exc))
        raise typer.Exit(2) from exc


def _vendor_or_exit(sandbox, dvp: str) -> None:
    """Refuse a DVP name the topology does not have, with the names it does have."""
    known = [n.id for n in sandbox.topology.dvps]
    if dvp not in known:
        err.print(f"[red]unknown DVP {dvp!r}; known: {', '.join(known)}[/]")
        raise typer.Exit(2)


@vendor_app.command("bankrupt")
def vendor_bankrupt(dvp: Annotated[str, typer.Argument(help="DVP node id, e.g. pgo-gamma.")],
                    state_dir: StateDir = None) -> None:
    """Declare a vendor bankrupt: curator mode at the DVP, removal from OCL and Whitelist.

    DVAs refuse it after their next list refresh. Example: pgo-sandbox vendor bankrupt pgo-gamma
    """
    from sandbox import vendor

    sandbox = _running_or_exit(state_dir)
    _vendor_or_exit(sandbox, dvp)
    outcome = vendor.bankrupt(sandbox, dvp)
    console.print(f"{outcome['dvp']} is in curator mode; OCL Volgnummer "
                  f"{outcome['ocl_volgnummer_before']} -> {outcome['ocl_volgnummer_after']}")
    seconds = vendor.wait_cut_off(sandbox, dvp)
    for dva, t in sorted(seconds.items()):
        console.print(f"  {dva} refuses it after {t:.2f} s")


@vendor_app.command("settle")
def vendor_settle(dvp: Annotated[str, typer.Argument(help="DVP node id.")],
                  state_dir: StateDir = None) -> None:
    """Settle the bankruptcy: the curator erases all personal data and logs it.

    Example: pgo-sandbox vendor settle pgo-gamma
    """
    from sandbox import vendor

    sandbox = _running_or_exit(state_dir)
    _vendor_or_exit(sandbox, dvp)
    try:
        entry = vendor.settle(sandbox, dvp)
    except vendor.ErasureFailed as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(1) from exc
    console.print_json(data=entry)


@vendor_app.command("readmit")
def vendor_readmit(dvp: Annotated[str, typer.Argument(help="DVP node id.")],
                   state_dir: StateDir = None) -> None:
    """Admit the vendor again (an empty vendor under the same name): resets the drill.

    Example: pgo-sandbox vendor readmit pgo-gamma
    """
    from sandbox import vendor

    sandbox = _running_or_exit(state_dir)
    _vendor_or_exit(sandbox, dvp)
    vendor.readmit(sandbox, dvp)
    console.print(f"{dvp} is on the OCL and Whitelist again")


@app.command()
def demo(state_dir: StateDir = None,
         base_port: Annotated[int, typer.Option(help="First port on 127.0.0.1.")] =
         DEFAULT_BASE_PORT) -> None:
    """Bring the default sandbox up (if it is not running) and run the collect scenario for
    every provider, then show the inspection function's overview for one person.

    Example: pgo-sandbox demo
    """
    from scenarios import collect, inspection

    state = _state(state_dir)
    if RuntimeInfo.load(state) is None:
        up(topology=None, runtime="local", base_port=base_port, timeout=60.0, reference=None,
           state_dir=state)
    sandbox = running(state)
    failed = False
    for provider in sandbox.topology.providers:
        report = collect.run(sandbox, provider=provider.name)
        report.print(console)
        failed |= not report.ok
    report = inspection.run(sandbox)
    report.print(console)
    failed |= not report.ok
    console.print("The sandbox keeps running: [bold]pgo-sandbox status[/], "
                  "[bold]pgo-sandbox down[/].")
    if failed:
        raise typer.Exit(1)


# Commands that live with their own packages.
register_population(app)
register_national(app)
register_conformance(app)
register_pki(app)
register_clock(app)
register_load(app)

if __name__ == "__main__":
    app()
