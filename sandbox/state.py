"""Where a sandbox keeps its state, and how commands find the running one.

``runtime.json`` in the state directory says which runtime runs it and where each node is
reachable from this machine; every command after ``up`` reads it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from simulators.common import tls
from simulators.common.config import SandboxConfig, write_atomic
from simulators.common.security import admin_headers
from simulators.medmij.topology import Topology


def default_state_dir() -> Path:
    return Path(os.environ.get("PGO_SANDBOX_HOME", Path.home() / ".pgo-sandbox")).resolve()


@dataclass
class RuntimeInfo:
    runtime: str  # local | docker
    profile: str
    addresses: dict[str, str]  # hostname -> base URL reachable from this machine
    processes: dict[str, object]  # node id -> pid (local) or container id (docker)
    started: float
    healthy_seconds: float | None = None

    def save(self, state_dir: Path) -> None:
        write_atomic(state_dir / "runtime.json", json.dumps(self.__dict__, indent=2).encode())

    @classmethod
    def load(cls, state_dir: Path) -> RuntimeInfo | None:
        path = state_dir / "runtime.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text("utf-8")))


class NotRunning(RuntimeError):
    """No sandbox is running under this state directory."""


@dataclass
class Running:
    """A running sandbox as a client on this machine sees it."""

    state_dir: Path
    info: RuntimeInfo
    config: SandboxConfig

    @property
    def topology(self) -> Topology:
        return self.config.topology

    def url(self, hostname_or_id: str, path: str = "") -> str:
        """A URL on a node, as clients on this machine reach it (hostnames resolved)."""
        hostname = self.topology.node(hostname_or_id).hostname
        return self.info.addresses[hostname] + path

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers for the nodes' admin APIs (registry, curator, test hooks)."""
        return admin_headers(self.state_dir)

    def public_url(self, hostname_or_id: str, path: str = "") -> str:
        """The URL as the lists name it (what a browser is sent to)."""
        hostname = self.topology.node(hostname_or_id).hostname
        return self.config.public_base(hostname) + path


def running(state_dir: Path | None = None) -> Running:
    state_dir = state_dir or default_state_dir()
    info = RuntimeInfo.load(state_dir)
    if info is None:
        raise NotRunning(f"no sandbox is running under {state_dir}: start one with "
                         "`pgo-sandbox up`")
    config = SandboxConfig.load(state_dir / "sandbox.json")
    if info.profile == "medmij":  # this process's clients trust this sandbox's CA, whichever
        tls.trust(state_dir / "pki")  # --state-dir it is (not only $PGO_SANDBOX_HOME's)
    return Running(state_dir, info, config)
