"""The compose runtime: the generated compose file, run by whichever Compose is installed.

``pgo-sandbox up --runtime compose`` builds (or reuses) the node image as the docker runtime
does, writes ``compose.yml`` into the state directory (``sandbox.compose_gen.runtime_compose``:
the same services as ``compose/docker-compose.yml``, with that image and this run's nonce,
over HTTPS on 443 with the docker runtime's read-only PKI volume),
puts the admin token into the state volume, and runs ``docker compose up -d`` (Compose v2) or
``docker-compose up -d`` (v1). Every service carries the docker runtime's labels, so status,
logs, the clock file and ``wipe`` are the docker runtime's own code. Revocation while it runs
works as in the docker runtime: ``ca revoke`` hands the new CRL to the registry, and the
nodes fetch it from there with their list refresh.

A sandbox started by hand (``docker compose -f compose/docker-compose.yml up``) and attached
with ``python -m sandbox.runtime.docker attach`` is a compose sandbox with no processes:
``down`` stops that compose project's containers, and when it is already gone (a plain
``docker-compose down``) its attached state is forgotten (``forget_stale``) instead of blocking
the next ``up``.

    runtime = ComposeRuntime(state_dir)
    info = runtime.up(load_topology(), base_port=18400)
    runtime.down()
"""

from __future__ import annotations

import logging
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from docker.errors import DockerException

from sandbox.compose_gen import runtime_compose
from sandbox.runtime import check_can_start, wait_healthy
from sandbox.runtime.docker import (
    LABEL,
    STATE_IN_CONTAINER,
    DockerRuntime,
    _Liveness,
    _save_config,
    ensure_image,
    fill_volume,
    state_files,
)
from sandbox.runtime.local import DEFAULT_BASE_PORT
from sandbox.state import RuntimeInfo
from simulators.medmij.topology import Topology

log = logging.getLogger("pgo_sandbox.compose")

COMPOSE_FILE = "compose.yml"  # in the state directory
PROJECT_LABEL = "com.docker.compose.project"


def compose_command() -> list[str]:
    """``docker compose`` (v2) when the CLI plugin is there, else ``docker-compose`` (v1)."""
    if shutil.which("docker") and subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise RuntimeError("neither `docker compose` (v2) nor `docker-compose` (v1) is installed; "
                       "install one, or use --runtime docker")


def seed_state_volume(client, name: str, labels: dict[str, str], image: str,
                      state_dir: Path) -> None:
    """Create the nodes' state volume when missing and put this machine's admin token and
    secret in it (``state_files``) before any node starts: nodes that start together (Swarm
    has no start order) would each write their own otherwise. A created, never started
    container carries the files."""
    fill_volume(client, name, labels, image, state_files(state_dir), mount=STATE_IN_CONTAINER)


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class ComposeRuntime(DockerRuntime):
    """The nodes as one Compose project per state directory (``pgo-sandbox-<hash>``)."""

    name = "compose"
    tls_default = True  # the medmij profile with TLS, as the docker runtime

    @property
    def compose_file(self) -> Path:
        return self.state_dir / COMPOSE_FILE

    @property
    def volume(self) -> str:
        return f"{self.project}-state"  # the docker runtime's name: the data is the same

    def _compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        command = [*compose_command(), "-f", str(self.compose_file), "-p", self.project, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def up(self, topology: Topology, base_port: int = DEFAULT_BASE_PORT, timeout: float = 60.0,
           on_progress: Callable[[str], None] | None = None,
           reference_data: tuple[tuple[str, str], ...] = (), *,
           profile: str = "medmij") -> RuntimeInfo:
        if profile != "medmij":
            raise RuntimeError("the compose runtime always serves the medmij profile's "
                               f"hostnames, not {profile!r}")
        if reference_data:
            raise RuntimeError("reference data (--reference) needs the local runtime")
        command = compose_command()  # before anything starts: say early that none exists
        addresses = self.addresses(topology, base_port)
        check_can_start(self.state_dir, addresses)
        self.down()
        image = ensure_image(self.client)
        nonce = secrets.token_hex(8)
        _save_config(self.state_dir, topology, nonce, self.tls)
        labels = {LABEL: self.project, "pgo-sandbox.state-dir": str(self.state_dir)}
        try:
            seed_state_volume(self.client, self.volume, labels, image,
                              self.state_dir)
            pki_volume = self.prepare_pki(topology, image, labels) if self.tls else None
        except DockerException as exc:
            raise RuntimeError(f"could not prepare the state volume: {exc}") from exc
        spec = runtime_compose(topology, base_port, image, nonce, self.volume, labels,
                               pki_volume)
        self.compose_file.write_text(
            f"# written by `pgo-sandbox up --runtime compose` ({' '.join(command)})\n"
            + yaml.safe_dump(spec, sort_keys=False), "utf-8")
        started = time.time()
        result = self._compose("up", "-d", "--no-build")
        if result.returncode != 0:
            self.down()
            raise RuntimeError(f"{' '.join(command)} up failed:\n{_tail(result.stderr)}")
        ids = {c.labels.get("pgo-sandbox.node"): c.id for c in self._containers()}
        info = RuntimeInfo(self.name, "medmij", addresses, ids, started)
        info.save(self.state_dir)
        urls = {n.id: addresses[n.hostname] for n in topology.nodes}
        try:
            wait_healthy(urls, timeout, alive=_Liveness(self), on_progress=on_progress,
                         nonce=nonce, client=self.probe_client(addresses))
        except (TimeoutError, RuntimeError) as exc:
            self.down()
            raise RuntimeError(f"{exc}; container logs under {self.state_dir / 'logs'}") from exc
        info.healthy_seconds = time.time() - started
        info.save(self.state_dir)
        return info

    def _attached_containers(self, info: RuntimeInfo) -> list:
        """The containers of the compose project a hand-started sandbox runs in: the project
        of whichever container publishes one of the attached ports."""
        ports = {a.rsplit(":", 1)[1] for a in info.addresses.values()}
        projects = set()
        for container in self.client.containers.list(ignore_removed=True):
            published = container.attrs.get("NetworkSettings", {}).get("Ports") or {}
            if ports & {b.get("HostPort") for bs in published.values() for b in bs or ()}:
                projects.add(container.labels.get(PROJECT_LABEL))
        return [c for p in projects - {None} for c in self.client.containers.list(
            all=True, ignore_removed=True, filters={"label": f"{PROJECT_LABEL}={p}"})]

    def down(self, timeout: float = 5.0) -> int:
        """``compose down`` (the volume stays), then what the docker runtime removes: logs are
        saved for ``logs`` after down. An attached sandbox's project goes the same way."""
        info = RuntimeInfo.load(self.state_dir)
        stopped = 0
        if info is not None and not info.processes:  # attached to a hand-started sandbox
            try:
                containers = self._attached_containers(info)
            except (RuntimeError, DockerException) as exc:
                log.warning("attached sandbox not stopped (%s)", exc)
                containers = []
            for container in containers:
                container.remove(force=True)
            stopped = len(containers)
        elif self.compose_file.exists() and self._containers():
            stopped = len(self._containers())
            self._save_logs()
            result = self._compose("down", "--timeout", str(int(timeout)))
            if result.returncode != 0:
                log.warning("compose down: %s", _tail(result.stderr, 5))
        return max(stopped, super().down(timeout))

    def _save_logs(self) -> None:
        logs = self.state_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for container in self._containers():
            node = container.labels.get("pgo-sandbox.node", container.name)
            (logs / f"{node}.log").write_bytes(container.logs())
