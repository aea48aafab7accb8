"""``pgo-sandbox logs``: one node's log, or every node's hops merged, filtered and followed.

A node's raw log is where its runtime keeps it (a file in the local runtime, the container's
output in docker). The merged view reads each node's recent events over its admin API
(``/admin/events``, see ``simulators.common.events``), so it works the same in every runtime:
one time-ordered stream of hops (who called whom, status, milliseconds, correlation id), which
``--corr`` narrows to one journey and ``--follow`` keeps open.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from sandbox.cli_common import StateDir, known_topology, running_or_exit, state_of
from sandbox.names import check_names
from sandbox.runtime import runtime_for
from sandbox.state import Running, RuntimeInfo
from simulators.common.http import sync_client
from simulators.medmij import CORRELATION_ID

console = Console(highlight=False)
err = Console(stderr=True)
FOLLOW_POLL_S = 0.5


def fetch_events(sandbox: Running, nodes: list[str], since: dict[str, int],
                 client: httpx.Client) -> list[dict]:
    """New events of ``nodes`` after ``since`` (updated in place), oldest first; a node that
    does not answer is skipped this round (it may be restarting)."""
    found: list[dict] = []
    for node in nodes:
        try:
            answer = client.get(sandbox.url(node, "/admin/events"),
                                params={"since": since.get(node, 0)},
                                headers=sandbox.admin_headers)
        except httpx.TransportError:
            continue
        if answer.status_code != 200:
            continue
        body = answer.json()
        found += body["events"]
        since[node] = body["last"]
    return sorted(found, key=lambda e: (e["t"], e["node"], e["seq"]))


def line(event: dict) -> str:
    """One event as a terminal line: time, caller -> node, what, status, ms, correlation id."""
    stamp = datetime.fromtimestamp(event["t"]).strftime("%H:%M:%S.%f")[:-3]
    if event["kind"] == "hop":
        colour = "red" if event["status"] >= 500 else "yellow" if event["status"] >= 400 \
            else "green"
        return (f"{stamp} {escape(event['caller']):>12} -> {escape(event['node']):<10} "
                f"{event['method']:<6} {escape(event['path'])} [{colour}]{event['status']}[/] "
                f"{event['ms']:.1f} ms corr={escape(event['corr'])}")
    rest = " ".join(f"{k}={v}" for k, v in event.items()
                    if k not in ("seq", "t", "node", "kind"))
    return f"{stamp} [bold]{escape(event['kind'])}[/] at {escape(event['node'])}: {escape(rest)}"


def _raw(state: Path, node: str, lines: int, follow: bool) -> None:
    """A node's own log as its runtime keeps it (also after `down`: it is kept)."""
    text = runtime_for(RuntimeInfo.load(state), state).logs(node)
    if not isinstance(text, Path):  # a container's output: no file to follow
        print("\n".join(text.splitlines()[-lines:]))
        if follow:
            err.print("--follow on a container's log: use the merged view (logs --hops -f) or "
                      "docker logs -f")
        return
    if not text.exists():
        raise typer.BadParameter(f"no log for node {node!r}")
    with open(text, encoding="utf-8", errors="replace") as f:
        print("".join(f.readlines()[-lines:]), end="")
        while follow:
            chunk = f.read()
            if chunk:
                print(chunk, end="", flush=True)
            else:
                time.sleep(FOLLOW_POLL_S)


def register(app: typer.Typer) -> None:
    """Add the ``logs`` command to the pgo-sandbox CLI."""

    @app.command()
    def logs(
        nodes: Annotated[list[str] | None, typer.Argument(
            help="Node ids, e.g. dva-nexus; none: every node (merged hops).",
            show_default=False)] = None,
        lines: Annotated[int, typer.Option(help="How many lines (or hops) from the end.")] = 50,
        follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing what "
                                             "comes; Ctrl-C to stop.")] = False,
        corr: Annotated[str | None, typer.Option(help=f"Only hops of this {CORRELATION_ID} "
                                                 "(one journey across nodes).")] = None,
        hops: Annotated[bool, typer.Option("--hops", help="The merged hop view also for one "
                                           "node (else its raw log).")] = False,
        state_dir: StateDir = None,
    ) -> None:
        """One node's log, or the hops of every node merged in time order.

        Examples: pgo-sandbox logs dva-nexus --lines 20;  pgo-sandbox logs -f  (every node's
        hops, live);  pgo-sandbox logs --corr 4f0c...  (one journey across nodes)
        """
        state = state_of(state_dir)
        known = [n.id for n in known_topology(state).nodes]
        chosen = check_names("node", nodes or [], known) if nodes else known
        if len(chosen) == 1 and nodes and not (hops or corr):
            _raw(state, chosen[0], lines, follow)
            return
        sandbox = running_or_exit(state)
        since: dict[str, int] = {}
        with sync_client(sandbox.info.addresses, timeout=10.0) as client:
            events = [e for e in fetch_events(sandbox, chosen, since, client)
                      if corr is None or e.get("corr") == corr]
            for event in events[-lines:]:
                console.print(line(event))
            try:
                while follow:
                    time.sleep(FOLLOW_POLL_S)
                    for event in fetch_events(sandbox, chosen, since, client):
                        if corr is None or event.get("corr") == corr:
                            console.print(line(event))
            except KeyboardInterrupt:
                pass
