"""The local runtime: each node a uvicorn process on 127.0.0.1, state under one directory.

Two profiles. ``loopback`` (the default, no set-up): each node plain HTTP on
``127.0.0.1:<port>``. ``medmij``: each node HTTPS on its own loopback address
(``sandbox.addressing``), port 443, with its certificate from the sandbox PKI and mutual TLS
on the back channels (``simulators.common.tls``); binding 443 needs root or
CAP_NET_BIND_SERVICE, and ``up`` says so before it starts anything.

The nodes are forked by a supervisor (``simulators.launch``) that restarts a node that dies,
with back-off, as Docker's restart policy would; ``status`` shows each node's restarts and
``down`` stops the supervisor and its nodes. Every ``up`` gets a fresh nonce (in
``sandbox.json``) that each node answers on ``/health`` beside its node id, so the runtime
never mistakes another program on a node's port for the node.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from sandbox import addressing
from sandbox.pki import Pki
from sandbox.runtime import (
    NodeDied,
    NodeStatus,
    check_can_start,
    probe_all,
    wait_healthy,
    wipe_state,
)
from sandbox.state import RuntimeInfo
from simulators.common import tls
from simulators.common.config import PROFILES, SandboxConfig, ensure_secret, write_atomic
from simulators.common.http import async_client
from simulators.common.security import ensure_admin_token
from simulators.medmij.topology import Topology

DEFAULT_BASE_PORT = 18400
MEDMIJ_NETWORK = str(addressing.NETWORK)  # the medmij profile's addresses: 127.77.0.0/16
TLS_PORT = 443  # front channel without a port in the ZAL (XSD); back channels share it
SUPERVISOR_FILE = "supervisor.json"  # written by simulators.launch (STATUS_FILE)
LOG_TAIL_LINES = 15


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (ours, or an orphan whose new parent has not reaped it) counts as gone
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def check_can_bind_tls(state_dir: Path, addresses: dict[str, str]) -> None:
    """Refuse a second sandbox, or an address:443 this process may not bind, with what to do
    (binding a port below 1024 needs root or CAP_NET_BIND_SERVICE), never a traceback."""
    if RuntimeInfo.load(state_dir) is not None:
        raise RuntimeError(f"a sandbox already runs under {state_dir}; `pgo-sandbox down` first")
    for hostname, base in addresses.items():
        address = urlsplit(base).hostname or ""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                sock.bind((address, TLS_PORT))
            except PermissionError:
                raise RuntimeError(
                    f"the medmij profile serves every node on <address>:{TLS_PORT} and this user "
                    f"may not bind port {TLS_PORT} ({address} for {hostname}). Run as root "
                    "(sudo), give Python the capability (`sudo setcap "
                    "cap_net_bind_service=+ep $(readlink -f $(which python3))`), or lower "
                    "the unprivileged port start (`sudo sysctl "
                    f"net.ipv4.ip_unprivileged_port_start={TLS_PORT}`). The loopback profile "
                    "(the default) needs none of this.") from None
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise RuntimeError(f"{address}:{TLS_PORT} ({hostname}) is in use by another "
                                       "program or sandbox") from None
                raise RuntimeError(
                    f"cannot bind {address}:{TLS_PORT} for {hostname}: {exc.strerror}; on "
                    f"macOS add the address first: `sudo ifconfig lo0 alias {address}`"
                ) from None


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])


class LocalRuntime:
    """Each node a process on 127.0.0.1, forked and restarted by ``simulators.launch``."""

    name = "local"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def addresses(self, topology: Topology, base_port: int) -> dict[str, str]:
        return {node.hostname: f"http://127.0.0.1:{base_port + i}"
                for i, node in enumerate(topology.nodes)}

    @staticmethod
    def medmij_addresses(topology: Topology, network: str = MEDMIJ_NETWORK) -> dict[str, str]:
        """The ``medmij`` profile: each node https on its own loopback address, port 443
        (``sandbox.addressing``'s plan, moved into ``network`` so tests need not collide)."""
        base = int(ipaddress.IPv4Network(network).network_address)
        plan = addressing.topology_plan(topology)
        shift = base - int(addressing.NETWORK.network_address)
        return {hostname: f"https://{ipaddress.IPv4Address(shift + int(ipaddress.IPv4Address(a)))}"
                for hostname, a in plan.items()}

    def supervisor(self) -> dict:
        """What the supervisor last reported: its pid; per node pid, restarts, last exit."""
        try:
            return json.loads((self.state_dir / SUPERVISOR_FILE).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return {"supervisor": 0, "nodes": {}}

    def up(self, topology: Topology, base_port: int = DEFAULT_BASE_PORT, timeout: float = 60.0,
           on_progress: Callable[[str], None] | None = None,
           reference_data: tuple[tuple[str, str], ...] = (), *, profile: str = "loopback",
           network: str = MEDMIJ_NETWORK) -> RuntimeInfo:
        """Start every node. ``profile="medmij"``: HTTPS under the MedMij hostnames on
        ``<address>:443`` (addresses from ``network``), certificates from the sandbox PKI
        issued into ``<state>/pki``, mutual TLS on the back channels."""
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, not {profile!r}")
        if profile == "medmij":
            addresses = self.medmij_addresses(topology, network)
            check_can_bind_tls(self.state_dir, addresses)
        else:
            addresses = self.addresses(topology, base_port)
            check_can_start(self.state_dir, addresses)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        client = httpx.AsyncClient
        if profile == "medmij":
            pki_dir = self.state_dir / "pki"
            Pki(topology.seed, pki_dir, renew=True).issue_nodes(topology.nodes)
            tls.trust(pki_dir)  # this process's clients (tests, scenarios) trust the CA

            def client() -> httpx.AsyncClient:
                return async_client(addresses, timeout=5.0)
        nonce = secrets.token_hex(8)
        config = SandboxConfig(topology, profile, addresses, self.state_dir, reference_data,
                               run_nonce=nonce)
        ensure_admin_token(self.state_dir)
        ensure_secret(self.state_dir)  # before the nodes, as the token (they would make it too)
        config_path = self.state_dir / "sandbox.json"
        config.save(config_path)
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        started = time.time()
        launched = subprocess.run(
            [sys.executable, "-m", "simulators.launch", "--config", str(config_path),
             "--logs", str(logs), "--status", str(self.state_dir / SUPERVISOR_FILE),
             "--timeout", str(timeout), *[n.id for n in topology.nodes]],
            capture_output=True, text=True, cwd=self.state_dir, stdin=subprocess.DEVNULL,
            timeout=timeout + 5,
        )
        if launched.returncode != 0:
            self.down()
            raise RuntimeError(f"launcher failed: {launched.stderr.strip()[-2000:]}")
        pids = {node: int(pid) for node, pid in json.loads(launched.stdout).items()}
        info = RuntimeInfo("local", profile, addresses, pids, started)
        info.save(self.state_dir)
        urls = {n.id: addresses[n.hostname] for n in topology.nodes}
        try:
            wait_healthy(urls, timeout, alive=self._started_alive, on_progress=on_progress,
                         nonce=nonce, client=client)
        except NodeDied as exc:
            why = self._death_report(exc.nodes)
            self.down()
            raise RuntimeError(why) from exc
        except (TimeoutError, RuntimeError):
            self.down()
            raise
        info.healthy_seconds = time.time() - started  # launch included
        info.save(self.state_dir)
        return info

    def _started_alive(self, node_id: str) -> bool:
        """During `up`: a node counts as dead once it exited even once (the supervisor would
        restart it, but a node that cannot start must fail `up` with its own error)."""
        record = self.supervisor()["nodes"].get(node_id)
        return record is not None and not record["last_exit"]

    def _death_report(self, nodes: list[str]) -> str:
        records = self.supervisor()["nodes"]
        parts = []
        for node in nodes:
            exit_ = (records.get(node) or {}).get("last_exit") or "exited"
            parts.append(f"node {node} died during start ({exit_}); the end of its log "
                         f"{self.logs(node)}:\n{log_tail(self.logs(node))}")
        return "\n".join(parts)

    def status(self, info: RuntimeInfo, topology: Topology) -> list[NodeStatus]:
        urls = {n.id: info.addresses[n.hostname] for n in topology.nodes}
        config = SandboxConfig.load(self.state_dir / "sandbox.json")
        client = httpx.AsyncClient
        if info.profile == "medmij":
            tls.trust(self.state_dir / "pki")

            def client() -> httpx.AsyncClient:
                return async_client(info.addresses, timeout=5.0)
        probes = probe_all(urls, config.run_nonce, client=client)
        report = self.supervisor()
        supervised = _alive(int(report.get("supervisor") or 0))
        out = []
        for node in topology.nodes:
            record = report["nodes"].get(node.id) or {}
            pid = int(record.get("pid") or info.processes.get(node.id, 0))
            restarts = int(record.get("restarts", 0))
            ok, detail = probes[node.id]
            if not _alive(pid):
                ok = False
                detail = (f"restarting after {record.get('last_exit') or 'exit'}" if supervised
                          else "process gone")
            elif not supervised:
                detail += ", supervisor gone (no restarts)"
            out.append(NodeStatus(node.id, node.role, node.hostname, urls[node.id], ok,
                                  f"pid {pid}, {detail}", restarts))
        from sandbox.participant_cli import external_statuses  # outside nodes: probed only
        return out + external_statuses(config)

    def down(self, timeout: float = 5.0) -> int:
        """Stop the supervisor (it stops its nodes), then kill any node left behind (e.g. after
        the supervisor itself was killed): no process of this sandbox survives."""
        info = RuntimeInfo.load(self.state_dir)
        report = self.supervisor()
        supervisor = int(report.get("supervisor") or 0)
        pids = {int(p) for p in (info.processes.values() if info else ())}
        pids |= {int(r["pid"]) for r in report["nodes"].values() if r.get("pid")}
        if info is None and not _alive(supervisor):
            return 0
        if _alive(supervisor):
            os.kill(supervisor, signal.SIGTERM)
            deadline = time.monotonic() + timeout + 3  # the supervisor's own SIGTERM/SIGKILL
            while time.monotonic() < deadline and _alive(supervisor):
                time.sleep(0.05)
            if _alive(supervisor):
                os.kill(supervisor, signal.SIGKILL)
        for pid in pids:
            if _alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        (self.state_dir / "runtime.json").unlink(missing_ok=True)
        return len(info.processes) if info else 0

    def logs(self, node_id: str) -> Path:
        return self.state_dir / "logs" / f"{node_id}.log"

    def wipe(self) -> None:
        """Forget all node data (grants, collected data, registry edits): back to the seed."""
        wipe_state(self.state_dir)

    def write_state_file(self, name: str, data: bytes | None) -> None:
        """Local nodes read their state directory directly: write (or remove) the file there."""
        path = self.state_dir / name
        if data is None:
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, data)
