"""The pgo-sandbox command line: bring the ecosystem up, drive scenarios, inspect it."""

from __future__ import annotations

import json
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from sandbox.cli_common import StateDir, running_or_exit
from sandbox.clock_cli import register as register_clock
from sandbox.conformance_cli import register as register_conformance
from sandbox.dashboard_cli import dashboard_line
from sandbox.dashboard_cli import register as register_dashboard
from sandbox.deploy_cli import register as register_deploy
from sandbox.drill_cli import register as register_drill
from sandbox.fault_cli import register as register_fault
from sandbox.load_cli import register as register_load
from sandbox.logs_cli import register as register_logs
from sandbox.names import check_name
from sandbox.participant_cli import register as register_participant
from sandbox.pki import PkiError, renew_legacy
from sandbox.pki_cli import register as register_pki
from sandbox.runtime import (
    LAST_RUNTIME_FILE,
    RUNTIMES,
    Runtime,
    UnknownRuntime,
    forget_stale,
    runtime_for,
    runtime_named,
)
from sandbox.runtime.local import DEFAULT_BASE_PORT, LocalRuntime
from sandbox.scenario_cli import register as register_scenario
from sandbox.state import RuntimeInfo, default_state_dir, running
from sandbox.story_cli import register as register_story
from sandbox.vendor_cli import register as register_vendor
from scenarios.national.cli import register as register_national
from simulators.medmij import LIST_PATHS
from simulators.medmij.topology import TopologyError, load_topology
from simulators.population.cli import register as register_population


def _quiet_flag_types() -> None:
    """Typer's rich help shows a type after every option, also ``<bool>`` after an on/off flag
    (``--web <bool>``), which reads as if the flag took a value; no setting turns it off, so
    flags show no type (every other option keeps its ``<int>``, ``<path>``, ...)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx) -> str | None:  # type: ignore[no-untyped-def]
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_quiet_flag_types()
BASE_PORT_ENV = "PGO_SANDBOX_BASE_PORT"  # tests (and a second sandbox) pick other ports

app = typer.Typer(
    help="A local MedMij ecosystem: registry, DigiD, DVAs, DVPs (PGOs) and the inspection "
    "function, with synthetic patients and scenarios.\n\nExample: pgo-sandbox up && "
    "pgo-sandbox scenario run collect",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console()
err = Console(stderr=True)

TopologyOpt = Annotated[Path | None, typer.Option(
    "--topology", help="A topology TOML file instead of the packaged default.", exists=True,
    dir_okay=False)]


def _state(state_dir: Path | None) -> Path:
    return (state_dir or default_state_dir()).resolve()


def _runtime(name: str, state_dir: Path) -> Runtime:
    check_name("runtime", name, RUNTIMES)
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
    runtime: Annotated[str, typer.Option(help="local (processes), docker (containers), "
                                         "compose (Docker Compose) or swarm (a stack).")] =
    "local",
    replicas: Annotated[list[str] | None, typer.Option(
        help="NODE=N: run N tasks of a DVA (swarm runtime), e.g. dva-nexus=3.")] = None,
    base_port: Annotated[int, typer.Option(help="First port on 127.0.0.1 (local runtime).",
                                           envvar=BASE_PORT_ENV)] = DEFAULT_BASE_PORT,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for all nodes.")] = 60.0,
    reference: Annotated[list[str] | None, typer.Option(
        help="PROVIDER=FOLDER: serve the FHIR test patients in FOLDER (e.g. the Nictiz "
        "qualification data) as extra patients of PROVIDER. Repeatable; local runtime.")] = None,
    profile: Annotated[str, typer.Option(
        help="loopback (default: plain HTTP on 127.0.0.1:<port>, no set-up) or medmij (local "
        "runtime: HTTPS under the MedMij hostnames on 127.77.0.N:443, mutual TLS on the "
        "back channels; binding 443 needs root or CAP_NET_BIND_SERVICE; see `hosts`).")] =
    "loopback",
    state_dir: StateDir = None,
) -> None:
    """Start every node of the topology and wait until all are healthy.

    When the same sandbox already runs (e.g. after `demo`) it says so and shows it (exit 0);
    one with other options (--reference, --topology, --runtime) must be stopped first.

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
        if not eq:
            raise typer.BadParameter(f"--reference {item!r}: want PROVIDER=FOLDER")
        check_name("provider", provider, [p.name for p in topo.providers])
        if not Path(folder).is_dir():
            raise typer.BadParameter(f"--reference {item!r}: no folder {folder}")
        reference_data.append((provider, str(Path(folder).resolve())))
    extra = {"reference_data": tuple(reference_data)} if reference_data else {}
    from simulators.common.config import PROFILES
    if profile not in PROFILES:
        raise typer.BadParameter(f"--profile must be one of {PROFILES}, not {profile!r}")
    if profile != "loopback":
        if runtime != "local":
            raise typer.BadParameter("--profile is for the local runtime (docker is medmij)")
        extra["profile"] = profile
    if replicas:  # swarm only: replicas of a DVA share its SQLite state
        if runtime != "swarm":
            raise typer.BadParameter("--replicas is for the swarm runtime")
        from sandbox.runtime.swarm import parse_replicas
        for item in replicas:
            check_name("node", item.partition("=")[0], [n.id for n in topo.nodes])
        try:
            extra["replicas"] = parse_replicas(replicas, [n.id for n in topo.dvas])
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    rt = _runtime(runtime, state)
    forget_stale(state)  # an attached compose sandbox gone by `docker-compose down`
    if _already_running(state, runtime, topo, tuple(reference_data)):
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), console=console, transient=True) as progress:
        task = progress.add_task(f"starting {len(topo.nodes)} nodes ({runtime})",
                                 total=len(topo.nodes))
        try:
            if renew_legacy(state / "pki", topo.seed):
                progress.console.print(f"made the PKI in {state / 'pki'} anew (a CA without "
                                       "its secret): `ca export` again, re-issue outside "
                                       "certificates")
            info = rt.up(topo, base_port=base_port, timeout=timeout,
                         on_progress=lambda _: progress.advance(task), **extra)
        except (RuntimeError, TimeoutError, PkiError) as exc:
            console.print(f"[red]up failed:[/] {escape(str(exc))}")  # a node's log tail
            raise typer.Exit(1) from exc
    (state / LAST_RUNTIME_FILE).write_text(runtime)
    console.print(_nodes_table(f"pgo-sandbox ({runtime}, profile {info.profile})",
                               rt.status(info, topo)))
    console.print(f"healthy in [bold]{info.healthy_seconds:.2f} s[/]; state in {state}")
    console.print(dashboard_line(state))
    _announce_reference(state)
    if _NEXT_HINT.get():  # `demo` runs the collect itself: no hint to type it
        console.print("next: [bold]pgo-sandbox scenario run collect[/]")


# False while `demo` calls `up`: the "next: ..." hint would announce what demo does anyway
_NEXT_HINT: ContextVar[bool] = ContextVar("next_hint", default=True)


def _already_running(state: Path, runtime: str, topo, reference_data: tuple) -> bool:
    """True (after showing it) when the sandbox `up` asks for already runs under ``state``:
    `up` after `demo` is then a no-op, as a newcomer expects. A sandbox with other options
    (topology, runtime, reference data) is never silently kept or restarted: exit 1 with the
    commands that do what was asked."""
    if RuntimeInfo.load(state) is None:
        return False
    sandbox = running(state)
    differences = []
    if sandbox.info.runtime != runtime:
        differences.append(f"runtime {sandbox.info.runtime}, not {runtime}")
    if sandbox.topology.to_dict() != topo.to_dict():
        differences.append("another topology")
    if tuple(map(tuple, sandbox.config.reference_data)) != reference_data:
        have = ", ".join(p for p, _ in sandbox.config.reference_data) or "none"
        differences.append(f"reference data for {have}")
    if differences:
        err.print(f"[red]a sandbox already runs under {state} with {'; '.join(differences)}."
                  "[/]\nStop it first and start again with your options: "
                  "[bold]pgo-sandbox down[/], then the same `pgo-sandbox up ...` "
                  "(stored data stays; `pgo-sandbox reset` forgets it).")
        raise typer.Exit(1)
    rt, info = _runtime_of(state)
    console.print(_nodes_table(f"pgo-sandbox ({info.runtime}, profile {info.profile})",
                               rt.status(info, sandbox.topology)))
    console.print(f"already running under {state}; nothing to do "
                  "([bold]pgo-sandbox down[/] stops it)")
    console.print(dashboard_line(state))
    _announce_reference(state)
    return True


def _announce_reference(state: Path) -> None:
    """Say which extra test patients `--reference` added: how many, at which provider, and
    their BSNs (what a tester types at the DigiD simulator)."""
    from simulators.common.config import SandboxConfig
    from simulators.common.people import population_for

    config = SandboxConfig.load(state / "sandbox.json")
    if not config.reference_data:
        return
    try:
        population = population_for(config)
    except Exception as exc:  # noqa: BLE001 - the nodes loaded it; this is only the notice
        console.print(f"reference patients: could not list them here ({escape(str(exc))})")
        return
    first, count = population.size, population.extra_count
    bsns = [population.patient(i).bsn for i in range(first, first + count)]
    providers = ", ".join(provider for provider, _ in config.reference_data)
    console.print(f"reference patients at [bold]{providers}[/]: {count} (population indices "
                  f"{first}..{first + count - 1}); log in at DigiD with BSN {', '.join(bsns)}")


@app.command()
def status(state_dir: StateDir = None,
           as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False
           ) -> None:
    """Show every node of the running sandbox and whether it is healthy.

    Example: pgo-sandbox status --json
    """
    state = _state(state_dir)
    sandbox = running_or_exit(state)
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


def restart_args(rt: Runtime, info: RuntimeInfo, topology, reference_data: tuple) -> dict:
    """The keyword arguments of ``rt.up`` that start the sandbox described by ``info`` again
    the way `up` started it: its base port (loopback and containers), or its profile and
    loopback network (local ``medmij``: addresses on <network>:443, no ports), and its
    reference patients. A ValueError when ``info`` does not say how (then `reset` stops
    nothing)."""
    args: dict = {"reference_data": reference_data} if reference_data else {}
    if info.runtime == "local" and info.profile == "medmij":
        network = _medmij_network(topology, info.addresses)
        return {**args, "profile": "medmij", "network": network}
    ports = []
    for hostname, url in info.addresses.items():
        try:
            port = urlsplit(url).port
        except ValueError:
            port = None
        if port is None:
            raise ValueError(f"runtime.json: no port in the address of {hostname} ({url!r})")
        ports.append(port)
    if not ports:
        raise ValueError("runtime.json lists no node addresses")
    base_port = min(ports)
    if info.runtime == "local" and rt.addresses(topology, base_port) != info.addresses:
        raise ValueError(f"runtime.json: the addresses are not the ones `up` gives from port "
                         f"{base_port} ({info.addresses})")
    return {**args, "base_port": base_port}


def _medmij_network(topology, addresses: dict[str, str]) -> str:
    """The loopback network a local ``medmij`` sandbox was started on (``up(network=...)``),
    from the addresses it saved; a ValueError unless they are the plan moved into it."""
    import ipaddress

    from sandbox import addressing
    from sandbox.runtime.local import MEDMIJ_NETWORK

    plan = addressing.topology_plan(topology)
    node = topology.nodes[0].hostname
    try:
        saved = ipaddress.IPv4Address(urlsplit(addresses[node]).hostname or "")
    except (KeyError, ValueError) as exc:
        raise ValueError(f"runtime.json: no loopback address for {node} "
                         f"({addresses.get(node)!r})") from exc
    start = (int(saved) - int(ipaddress.IPv4Address(plan[node]))
             + int(addressing.NETWORK.network_address))
    default = ipaddress.IPv4Network(MEDMIJ_NETWORK)
    for prefix in range(default.prefixlen, 33):  # the widest network starting there
        try:
            network = str(ipaddress.IPv4Network((start, prefix)))
            break
        except ValueError:
            continue
    else:  # pragma: no cover - a /32 always starts at its address
        raise ValueError(f"runtime.json: no network for {saved}")
    if LocalRuntime.medmij_addresses(topology, network) != addresses:
        raise ValueError(f"runtime.json: the addresses are not the medmij profile's plan "
                         f"({addresses})")
    return network


@app.command()
def reset(state_dir: StateDir = None) -> None:
    """Return to the seeded state: forget grants, collected data and registry edits.

    A running sandbox is restarted as it ran: the same topology, profile and addresses (base
    port or loopback network) and the same reference patients (`up --reference`).

    Example: pgo-sandbox reset
    """
    state = _state(state_dir)
    rt, info = _runtime_of(state)
    if info is None:
        rt.wipe()
        console.print(f"state under {state} wiped")
        return
    try:  # all that can fail before anything stops: a bad state loses nothing
        sandbox = running(state)
        reference_data = tuple(map(tuple, sandbox.config.reference_data))  # they are no state
        args = restart_args(rt, info, sandbox.topology, reference_data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        err.print(f"[red]cannot reset: {escape(str(exc))}[/]\nNothing was stopped or wiped; "
                  "[bold]pgo-sandbox down[/] and [bold]pgo-sandbox up[/] start it afresh "
                  "(stored data stays).", highlight=False)
        raise typer.Exit(1) from exc
    rt.down()
    rt.wipe()
    try:
        renew_legacy(state / "pki", sandbox.topology.seed)
        info = rt.up(sandbox.topology, **args)
    except (RuntimeError, TimeoutError, PkiError) as exc:
        err.print(f"[red]reset wiped the state, but the restart failed:[/] {escape(str(exc))}"
                  "\nStart it again with [bold]pgo-sandbox up[/] and its options.")
        raise typer.Exit(1) from exc
    console.print(f"reset and restarted (profile {info.profile}); healthy in "
                  f"{info.healthy_seconds:.2f} s")
    _announce_reference(state)


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
    from sandbox.cli_common import make_out_dir
    from simulators.common.config import PROFILES, SandboxConfig
    from simulators.registry.state import RegistryState

    if profile not in PROFILES:
        raise typer.BadParameter(f"profile must be one of {PROFILES}")
    topo = load_topology(topology)
    make_out_dir(out)  # a clear exit 2, not a traceback, when it cannot be a folder
    addresses = LocalRuntime(Path(".")).addresses(topo, base_port)
    config = SandboxConfig(topo, profile, addresses, out)
    state = RegistryState(config, None)
    for kind, path in LIST_PATHS.items():
        (out / path.lstrip("/")).write_bytes(state.render(kind))
        console.print(f"wrote {out / path.lstrip('/')}")


@app.command()
def demo(state_dir: StateDir = None,
         base_port: Annotated[int, typer.Option(help="First port on 127.0.0.1.",
                                                envvar=BASE_PORT_ENV)] =
         DEFAULT_BASE_PORT) -> None:
    """Bring the default sandbox up (if it is not running) and run the collect scenario for
    every provider, then show the inspection function's overview for one person; ends with
    one verdict line. The sandbox keeps running (`pgo-sandbox up` then just shows it).

    Example: pgo-sandbox demo
    """
    from scenarios import collect, inspection

    state = _state(state_dir)
    if RuntimeInfo.load(state) is None:
        hint = _NEXT_HINT.set(False)
        try:
            up(topology=None, runtime="local", base_port=base_port, timeout=60.0,
               reference=None, state_dir=state)
        finally:
            _NEXT_HINT.reset(hint)
    sandbox = running(state)
    verdicts: list[bool] = []
    for provider in sandbox.topology.providers:
        report = collect.run(sandbox, provider=provider.name)
        report.print(console)
        verdicts.append(report.ok)
    report = inspection.run(sandbox)
    report.print(console)
    verdicts.append(report.ok)
    passed = sum(verdicts)
    colour = "green" if all(verdicts) else "red"
    console.print(f"[bold {colour}]demo: {passed} of {len(verdicts)} passed[/]")
    console.print("The sandbox keeps running: [bold]pgo-sandbox status[/], "
                  "[bold]pgo-sandbox down[/].")
    if not all(verdicts):
        raise typer.Exit(1)


# Commands that live with their own packages.
register_population(app)
register_national(app)
register_conformance(app)
register_pki(app)
register_participant(app)
register_clock(app)
register_load(app)
register_logs(app)
register_scenario(app)
register_vendor(app)
register_dashboard(app)
register_deploy(app)
register_drill(app)
register_fault(app)
register_story(app)

if __name__ == "__main__":
    app()
