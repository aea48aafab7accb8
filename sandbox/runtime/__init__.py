"""Runtimes decide where each node of the topology runs: local processes or containers.

Every runtime implements ``Runtime`` (up, down, status, logs, wipe, name); the CLI reaches
them only through ``runtime_for`` (by name, or the one ``runtime.json`` names), so a third
runtime (e.g. swarm) is one class and one entry in ``RUNTIMES``.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import httpx

from sandbox.state import RuntimeInfo

if TYPE_CHECKING:
    from simulators.medmij.topology import Topology


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


def forget_stale(state_dir: Path) -> bool:
    """Forget an attached sandbox (state files written by ``attach``, no processes of ours)
    that no longer answers: stopped by a plain ``docker-compose down``, it must not block the
    next ``up``. A sandbox a runtime started is never forgotten here (``down`` stops it)."""
    info = RuntimeInfo.load(state_dir)
    if info is None or info.processes:
        return False
    from simulators.common.config import SandboxConfig

    try:
        nodes = SandboxConfig.load(state_dir / "sandbox.json").topology.nodes
        urls = {n.id: info.addresses[n.hostname] for n in nodes}
    except (OSError, ValueError, KeyError):
        urls = {}
    if urls and any(ok for ok, _ in probe_all(urls).values()):
        return False
    (state_dir / "runtime.json").unlink(missing_ok=True)
    return True


def check_can_start(state_dir: Path, addresses: dict[str, str]) -> None:
    """Refuse a second sandbox under one state directory, or ports another program holds."""
    if RuntimeInfo.load(state_dir) is not None and not forget_stale(state_dir):
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


def probe_all(urls: dict[str, str], nonce: str = "",
              client=httpx.AsyncClient) -> dict[str, tuple[bool, str]]:
    """Probe every node (``urls`` is node id -> base URL) for its identity and health;
    ``client()`` makes the HTTP client (the medmij profile's trusts the sandbox CA)."""
    async def run() -> dict[str, tuple[bool, str]]:
        async with client() as client_:
            results = await asyncio.gather(*(_probe(client_, u, n, nonce)
                                             for n, u in urls.items()))
        return dict(zip(urls, results, strict=True))

    return asyncio.run(run())


def wait_healthy(urls: dict[str, str], timeout: float, alive=None, on_progress=None,
                 nonce: str = "", client=httpx.AsyncClient) -> float:
    """Poll every node's /health until all answer 200 as themselves; return the seconds it
    took. ``alive(node)`` false means the node died: ``NodeDied``."""
    start = time.perf_counter()
    pending = dict(urls)
    last: dict[str, str] = {}

    async def run() -> None:
        async with client() as client_:
            while pending:
                if time.perf_counter() - start > timeout:
                    why = ", ".join(f"{n} ({last.get(n, '-')})" for n in sorted(pending))
                    raise TimeoutError(f"not healthy after {timeout:.0f} s: {why}")
                if alive is not None:
                    dead = [n for n in pending if not alive(n)]
                    if dead:
                        raise NodeDied(dead)
                results = await asyncio.gather(*(_probe(client_, u, n, nonce)
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


@runtime_checkable
class Runtime(Protocol):
    """Where the nodes of one sandbox (one state directory) run.

    ``up`` refuses a second sandbox under the same state directory and returns the
    ``RuntimeInfo`` it saved; ``down`` stops every node (stored data stays) and says how many;
    ``wipe`` forgets stored data (the seed stays); ``logs`` is a node's log text, or the path
    of its log file; ``write_state_file`` puts a file where the nodes read their state (the
    sandbox clock), or removes it with ``None``.
    """

    name: str
    state_dir: Path

    def addresses(self, topology: Topology, base_port: int) -> dict[str, str]: ...

    def up(self, topology: Topology, base_port: int = ..., timeout: float = 60.0,
           on_progress: Callable[[str], None] | None = None,
           reference_data: tuple[tuple[str, str], ...] = (), *,
           profile: str = ...) -> RuntimeInfo: ...

    def down(self, timeout: float = 5.0) -> int: ...

    def status(self, info: RuntimeInfo, topology: Topology) -> list[NodeStatus]: ...

    def logs(self, node_id: str) -> str | Path: ...

    def wipe(self) -> None: ...

    def write_state_file(self, name: str, data: bytes | None) -> None: ...


# name -> "module:class"; imported on demand (docker needs the docker SDK and an engine)
RUNTIMES = {"local": "sandbox.runtime.local:LocalRuntime",
            "docker": "sandbox.runtime.docker:DockerRuntime",
            "compose": "sandbox.runtime.compose:ComposeRuntime",
            "swarm": "sandbox.runtime.swarm:SwarmRuntime"}
LAST_RUNTIME_FILE = "last-runtime"  # the runtime of the last `up`, for `reset` after `down`


class UnknownRuntime(ValueError):
    """A runtime name that is not in ``RUNTIMES``."""


def runtime_named(name: str, state_dir: Path) -> Runtime:
    """The runtime called ``name`` (``local``, ``docker``) for the sandbox under state_dir."""
    try:
        module, _, cls = RUNTIMES[name].partition(":")
    except KeyError:
        raise UnknownRuntime(f"unknown runtime {name!r}: {' or '.join(RUNTIMES)}") from None
    return getattr(importlib.import_module(module), cls)(state_dir)


def runtime_for(info: RuntimeInfo | None, state_dir: Path) -> Runtime:
    """The runtime of the sandbox under state_dir: the one running it (``info``), else the
    one of the last ``up`` (so ``reset`` after ``down`` also removes a docker volume), else
    local."""
    last = state_dir / LAST_RUNTIME_FILE
    if info is not None:
        name = info.runtime
    elif last.exists():
        name = last.read_text().strip()
    else:
        name = "local"
    return runtime_named(name, state_dir)
