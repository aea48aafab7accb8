"""The local runtime: each node a uvicorn process on 127.0.0.1, state under one directory.

The nodes are forked by a supervisor (``simulators.launch``) that restarts a node that dies,
with back-off, as Docker's restart policy would; ``status`` shows each node's restarts and
``down`` stops the supervisor and its nodes. Every ``up`` gets a fresh nonce (in
``sandbox.json``) that each node answers on ``/health`` beside its node id, so the runtime
never mistakes another program on a node's port for the node.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sandbox.runtime import (
    NodeDied,
    NodeStatus,
    check_can_start,
    probe_all,
    wait_healthy,
    wipe_state,
)
from sandbox.state import RuntimeInfo
from simulators.common.config import SandboxConfig, write_atomic
from simulators.common.security import ensure_admin_token
from simulators.medmij.topology import Topology

DEFAULT_BASE_PORT = 18400
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

    def supervisor(self) -> dict:
        """What the supervisor last reported: its pid; per node pid, restarts, last exit."""
        try:
            return json.loads((self.state_dir / SUPERVISOR_FILE).read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return {"supervisor": 0, "nodes": {}}

    def up(self, topology: Topology, base_port: int = DEFAULT_BASE_PORT, timeout: float = 60.0,
           on_progress: Callable[[str], None] | None = None,
           reference_data: tuple[tuple[str, str], ...] = ()) -> RuntimeInfo:
        addresses = self.addresses(topology, base_port)
        check_can_start(self.state_dir, addresses)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        nonce = secrets.token_hex(8)
        config = SandboxConfig(topology, "loopback", addresses, self.state_dir, reference_data,
                               run_nonce=nonce)
        ensure_admin_token(self.state_dir)
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
        info = RuntimeInfo("local", "loopback", addresses, pids, started)
        info.save(self.state_dir)
        urls = {n.id: addresses[n.hostname] for n in topology.nodes}
        try:
            wait_healthy(urls, timeout, alive=self._started_alive, on_progress=on_progress,
                         nonce=nonce)
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
        probes = probe_all(urls, config.run_nonce)
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
        return out

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
