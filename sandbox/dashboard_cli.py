"""`pgo-sandbox dashboard`: the live ecosystem dashboard's address and a one-time login link.

The dashboard is served by the registry node (``simulators.registry.dashboard``) and needs
the admin token; the CLI holds it (``admin.token`` in the state directory), so it asks the
registry for a one-time code and prints a link that logs a browser in once, within minutes.
"""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from sandbox.cli_common import StateDir, running_or_exit, state_of
from sandbox.state import NotRunning, Running, running
from simulators.common.http import sync_client

console = Console()
err = Console(stderr=True)



def browser_url(sandbox: Running, path: str) -> str:
    """A registry URL for a browser on this machine. The local runtime's ``medmij`` profile
    serves the registry at <address>:443 with a certificate for its MedMij hostname only, so a
    browser can verify it only under that name (``hosts --write`` maps it); a link to the
    address meets a certificate warning, clicked through with the login code in the URL.
    Elsewhere the address (loopback: the same; containers: the port this machine reaches)."""
    registry = sandbox.topology.registry.id
    if sandbox.info.runtime == "local" and sandbox.info.profile == "medmij":
        return sandbox.public_url(registry, path)
    return sandbox.url(registry, path)


def dashboard_url(sandbox: Running) -> str:
    """Where the dashboard is, as a browser on this machine reaches the registry."""
    return browser_url(sandbox, "/dashboard")


def dashboard_line(state_dir: Path) -> str:
    """The line `up` prints under its table (rich markup)."""
    try:
        url = dashboard_url(running(state_dir))
    except (NotRunning, OSError, KeyError, ValueError):
        return ""
    return (f"dashboard: [bold]{escape(url)}[/] (log in with a one-time link: "
            "[bold]pgo-sandbox dashboard[/])")


def login_link(sandbox: Running) -> str:
    """A one-time login link from the registry (admin API), on the address used here."""
    registry = sandbox.topology.registry
    with sync_client(sandbox.info.addresses, timeout=10.0) as client:
        r = client.post(sandbox.url(registry.id, "/admin/dashboard/codes"),
                        headers=sandbox.admin_headers)
        r.raise_for_status()
        code = r.json()["code"]
    return browser_url(sandbox, f"/dashboard/login/{code}")


def register(app: typer.Typer) -> None:
    """Add the `dashboard` command to the pgo-sandbox CLI."""

    @app.command("dashboard")
    def dashboard(
        open_browser: Annotated[bool, typer.Option(
            "--open", help="Open the login link in the default browser.")] = False,
        state_dir: StateDir = None,
    ) -> None:
        """Print the live dashboard's URL and a one-time login link (valid 5 minutes, once).

        The dashboard shows the topology, node health, the lists' Volgnummers, the sandbox
        clock and every hop live, with a sequence diagram per journey (SVG/PNG).

        Example: pgo-sandbox dashboard --open
        """
        state = state_of(state_dir)
        sandbox = running_or_exit(state)
        try:
            link = login_link(sandbox)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            err.print(f"[red]the registry gave no login link ({escape(str(exc))}); is the "
                      "sandbox healthy? (pgo-sandbox status)[/]")
            raise typer.Exit(1) from exc
        console.print(f"dashboard: {escape(dashboard_url(sandbox))}")
        console.print(f"log in once (5 minutes): {escape(link)}", soft_wrap=True)
        if open_browser:
            webbrowser.open(link)
