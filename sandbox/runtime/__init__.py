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


async def _probe(client: httpx.AsyncClient, url: str) -> tuple[bool, str]:
    try:
        response = await client.get(url + "/health", timeout=2.0)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    return response.status_code == 200, str(response.status_code)


def probe_all(urls: dict[str, str]) -> dict[str, tuple[bool, str]]:
    async def run() -> dict[str, tuple[bool, str]]:
        async with httpx.AsyncClient() as client:
            results = await asyncio.gather(*(_probe(client, u) for u in urls.values()))
        return dict(zip(urls, results, strict=True))

    return asyncio.run(run())


def wait_healthy(urls: dict[str, str], timeout: float, alive=None, on_progress=None) -> float:
    """Poll every node's /health until all answer 200; return the seconds it took."""
    start = time.perf_counter()
    pending = dict(urls)

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            while pending:
                if time.perf_counter() - start > timeout:
                    raise TimeoutError(f"not healthy after {timeout:.0f} s: {sorted(pending)}")
                if alive is not None:
                    dead = [n for n in pending if not alive(n)]
                    if dead:
                        raise RuntimeError(f"node(s) exited during start: {dead}")
                results = await asyncio.gather(*(_probe(client, u) for u in pending.values()))
                for node, (ok, _) in zip(list(pending), results, strict=True):
                    if ok:
                        del pending[node]
                        if on_progress:
                            on_progress(node)
                if pending:
                    await asyncio.sleep(0.05)

    asyncio.run(run())
    return time.perf_counter() - start
