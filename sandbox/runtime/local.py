"""The local runtime: each node a uvicorn process on 127.0.0.1, state under one directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox.runtime import NodeStatus, check_can_start, probe_all, wait_healthy, wipe_state
from sandbox.state import RuntimeInfo
from sandbox.topology import Topology
from simulators.common.config import SandboxConfig
from simulators.common.security import ensure_admin_token

DEFAULT_BASE_PORT = 18400


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as gone
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


class LocalRuntime:
    name = "local"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def addresses(self, topology: Topology, base_port: int) -> dict[str, str]:
        return {node.hostname: f"http://127.0.0.1:{base_port + i}"
                for i, node in enumerate(topology.nodes)}

    def up(self, topology: Topology, base_port: int = DEFAULT_BASE_PORT, timeout: float = 60.0,
           on_progress=None, reference_data: tuple[tuple[str, str], ...] = ()) -> RuntimeInfo:
        addresses = self.addresses(topology, base_port)
        check_can_start(self.state_dir, addresses)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = SandboxConfig(topology, "loopback", addresses, self.state_dir, reference_data)
        ensure_admin_token(self.state_dir)
        config_path = self.state_dir / "sandbox.json"
        config.save(config_path)
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        started = time.time()
        launched = subprocess.run(
            [sys.executable, "-m", "simulators.launch", "--config", str(config_path),
             "--logs", str(logs), *[n.id for n in topology.nodes]],
            capture_output=True, text=True, cwd=self.state_dir, stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
        if launched.returncode != 0:
            raise RuntimeError(f"launcher failed: {launched.stderr.strip()[-2000:]}")
        pids = {node: int(pid) for node, pid in json.loads(launched.stdout).items()}
        info = RuntimeInfo("local", "loopback", addresses, pids, started)
        info.save(self.state_dir)
        urls = {n.id: addresses[n.hostname] for n in topology.nodes}
        try:
            wait_healthy(urls, timeout, alive=lambda n: _alive(pids[n]), on_progress=on_progress)
        except (TimeoutError, RuntimeError):
            self.down()
            raise
        info.healthy_seconds = time.time() - started  # launch included
        info.save(self.state_dir)
        return info

    def status(self, info: RuntimeInfo, topology: Topology) -> list[NodeStatus]:
        urls = {n.id: info.addresses[n.hostname] for n in topology.nodes}
        probes = probe_all(urls)
        out = []
        for node in topology.nodes:
            pid = int(info.processes.get(node.id, 0))
            ok, detail = probes[node.id]
            if not _alive(pid):
                ok, detail = False, "process gone"
            out.append(NodeStatus(node.id, node.role, node.hostname, urls[node.id], ok,
                                  f"pid {pid}, {detail}"))
        return out

    def down(self, timeout: float = 5.0) -> int:
        info = RuntimeInfo.load(self.state_dir)
        if info is None:
            return 0
        pids = [int(p) for p in info.processes.values()]
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        for pid in pids:
            if _alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        (self.state_dir / "runtime.json").unlink(missing_ok=True)
        return len(pids)

    def logs(self, node_id: str) -> Path:
        return self.state_dir / "logs" / f"{node_id}.log"

    def wipe(self) -> None:
        """Forget all node data (grants, collected data, registry edits): back to the seed."""
        wipe_state(self.state_dir)
