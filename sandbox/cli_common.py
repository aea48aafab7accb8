"""What every pgo-sandbox command module shares: the running sandbox, or a clear exit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sandbox.state import NotRunning, Running, default_state_dir, running
from simulators.medmij.topology import Topology, load_topology

err = Console(stderr=True)
StateDir = Annotated[Path | None, typer.Option(
    "--state-dir", help="Where the sandbox keeps its state (default $PGO_SANDBOX_HOME or "
    "~/.pgo-sandbox).", show_default=False)]
NOT_RUNNING_EXIT = 1  # an operational failure; usage errors (an unknown name) exit 2


def state_of(state_dir: Path | None) -> Path:
    """``--state-dir``, else ``$PGO_SANDBOX_HOME`` or ``~/.pgo-sandbox``, resolved."""
    return (state_dir or default_state_dir()).resolve()


def running_or_exit(state_dir: Path | None) -> Running:
    """The sandbox running in ``state_dir``; else say why on stderr and exit 1."""
    try:
        return running(state_of(state_dir))
    except NotRunning as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(NOT_RUNNING_EXIT) from exc


def known_topology(state: Path) -> Topology:
    """The topology of the sandbox under ``state`` (also after `down`), else the default."""
    from simulators.common.config import SandboxConfig

    config_path = state / "sandbox.json"
    return SandboxConfig.load(config_path).topology if config_path.exists() else load_topology()


def make_out_dir(out: Path, option: str = "--out") -> Path:
    """Create an output folder before any work starts; exit 2 with a one-line reason when it
    cannot be (a file in the way, no permission, /proc)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err.print(f"[red]{escape(f'{option} {out}: cannot create the folder')} "
                  f"({escape(exc.strerror or str(exc))})[/]", highlight=False)
        raise typer.Exit(2) from None
    return out


def make_out_file(path: Path, option: str = "--out") -> Path:
    """Check an output file can be written before any work starts: its folder is created
    (as before), and the file opened for appending (nothing is truncated); exit 2 with
    ``cannot create ...`` when either fails."""
    if path.is_dir():
        err.print(f"[red]{escape(f'{option} {path}: cannot create the file (a folder)')}[/]",
                  highlight=False)
        raise typer.Exit(2)
    make_out_dir(path.parent, option)
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as exc:
        err.print(f"[red]{escape(f'{option} {path}: cannot create the file')} "
                  f"({escape(exc.strerror or str(exc))})[/]", highlight=False)
        raise typer.Exit(2) from None
    if not existed:
        path.unlink(missing_ok=True)  # no empty file left behind when the work fails
    return path
