"""Runtimes decide where each node of the topology runs: local processes or containers."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from sandbox.state import RuntimeInfo


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wipe_state(state_dir: Path) -> None:
    """Forget what the nodes stored on this machine (grants, collected data, registry edits,
    logs, the clock): back to the seeded state. The topology and config stay."""
    for name in ("nodes", "logs", "clock.json"):
        path = state_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def check_can_start(state_dir: Path, addresses: dict[str, str]) -> None:
    """Refuse a second sandbox under one state directory, or ports another program holds."""
    if RuntimeInfo.load(state_dir) is not None:
        raise RuntimeError(f"a sandbox already runs under {state_dir}; `pgo-sandbox down` first")
    busy = [a for a in addresses.values() if not port_free(int(a.rsplit(":", 1)[1]))]
    if busy:
        raise RuntimeError(f"ports in use: {busy}; pick another --base-port")


@dataclass
class NodeStatus:
    node: str
    role: str
    hostname: str
    url: str
    healthy: bool
    detail: str = ""
    restarts: int = 0  # times the runtime restarted the node since `up`


class NodeDied(RuntimeError):
    """Node(s) exited while the runtime waited for them to become healthy."""

    def __init__(self, nodes: list[str]) -> None:
        super().__init__(f"node(s) exited during start: {nodes}")
        self.nodes = nodes


async def _probe(client: httpx.AsyncClient, url: str, node_id: str | None = None,
                 nonce: str = "") -> tuple[bool, str]:
    """Whether the node answers /health 200 *as itself*: with its node id and, when the runtime
    gave one, this run's nonce. Any other 200 is another program (or an older sandbox) on
    the node's port, never a healthy node."""
    try:
        response = await client.get(url + "/health", timeout=2.0)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    if response.status_code != 200:
        return False, str(response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return False, "200 from something that is not a sandbox node"
    if node_id is not None and body.get("node") != node_id:
        return False, f"200 from {body.get('node')!r}, not {node_id}: another program's port"
    if nonce and body.get("run") != nonce:
        return False, "200 from a node of another sandbox run on this port"
    return True, "200"


def probe_all(urls: dict[str, str], nonce: str = "") -> dict[str, tuple[bool, str]]:
    """Probe every node (``urls`` is node id -> base URL) for its identity and health."""
    async def run() -> dict[str, tuple[bool, str]]:
        async with httpx.AsyncClient() as client:
            results = await asyncio.gather(*(_probe(client, u, n, nonce)
                                             for n, u in urls.items()))
        return dict(zip(urls, results, strict=True))

    return asyncio.run(run())


def wait_healthy(urls: dict[str, str], timeout: float, alive=None, on_progress=None,
                 nonce: str = "") -> float:
    """Poll every node's /health until all answer 200 as themselves; return the seconds it
    took. ``alive(node)`` false means the node died: ``NodeDied``."""
    start = time.perf_counter()
    pending = dict(urls)
    last: dict[str, str] = {}

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            while pending:
                if time.perf_counter() - start > timeout:
                    why = ", ".join(f"{n} ({last.get(n, '-')})" for n in sorted(pending))
                    raise TimeoutError(f"not healthy after {timeout:.0f} s: {why}")
                if alive is not None:
                    dead = [n for n in pending if not alive(n)]
                    if dead:
                        raise NodeDied(dead)
                results = await asyncio.gather(*(_probe(client, u, n, nonce)
                                                 for n, u in pending.items()))
                for node, (ok, detail) in zip(list(pending), results, strict=True):
                    last[node] = detail
                    if ok:
                        del pending[node]
                        if on_progress:
                            on_progress(node)
                if pending:
                    await asyncio.sleep(0.05)

    asyncio.run(run())
    return time.perf_counter() - start
