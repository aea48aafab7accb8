"""The swarm runtime: the topology as a Docker Swarm stack, DVAs replicated.

``pgo-sandbox up --runtime swarm --replicas dva-nexus=3`` makes this engine a single-node swarm
when it is none (``docker swarm init --advertise-addr 127.0.0.1``), builds the node image
beforehand (a stack cannot build), writes ``stack.yml`` into the state directory
(``sandbox.compose_gen.swarm_stack``) and runs ``docker stack deploy``. Swarm schedules,
restarts and replicates the nodes; scenarios, ``status`` and ``load`` run unchanged.

* Replicas of a DVA share the state volume, hence its SQLite file: an authorization session,
  code or grant written by one replica is read by the next (WAL, one kernel: one machine). Its
  in-memory token index is per replica: a token revoked at one replica is refused there at
  once, and by the others once they look it up again (see docs/load-testing.md).
* Inside the overlay network every node resolves by its MedMij hostname to its tasks
  (``endpoint_mode: dnsrr``, round robin). Swarm's VIP and ingress routing mesh need IPVS in
  the kernel, which many CI and container hosts lack (this one does), so from this machine
  the edge (``python -m sandbox.runtime.swarm edge``, a TCP forwarder in the same image)
  publishes every node's port and forwards each connection to one of its tasks.
* The edge is no service of the stack but a container of its own (``<project>-edge``) on the
  stack's attachable overlay network, started after ``docker stack deploy`` and removed before
  ``docker stack rm`` (attached, it would keep the network). A container publishes on a host
  IP, a swarm service cannot: the edge binds 127.0.0.1 only, as the docker and compose
  runtimes do. ``PGO_SANDBOX_SWARM_LISTEN=0.0.0.0`` publishes on every interface instead, for
  load workers on other machines (docs/load-testing.md): the LAN then reaches the test login,
  every node and the admin APIs.
* The admin token is put into the state volume before any task starts (tasks start together),
  and the sandbox PKI into the docker runtime's read-only PKI volume: every node serves HTTPS
  on 443 with mutual TLS, as with ``--runtime docker`` (the default since it ran end to end,
  tests/sandbox/runtime/test_swarm.py; ``PGO_SANDBOX_DOCKER_TLS=0`` keeps plain HTTP). The
  edge forwards TCP, so TLS runs from this machine to the task.
* Revocation: the PKI volume is a copy made at ``up`` (and Swarm may run tasks on other
  machines, so no host file is shared), so ``pgo-sandbox ca revoke`` hands the new CRL to the
  registry's admin API and every task fetches it from the registry's distribution point
  with its list refresh into its own CRL file (``simulators.registry.crl``,
  ``simulators.common.lists.CrlFollower``): refused at the next handshake by every replica.

    runtime = SwarmRuntime(state_dir)
    info = runtime.up(load_topology(), base_port=18400, replicas={"dva-nexus": 3})
    runtime.down()
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from docker.errors import DockerException, NotFound

from sandbox.compose_gen import EDGE, NETWORK, edge_forwards, swarm_stack
from sandbox.runtime import NodeStatus, check_can_start, probe_all, wait_healthy
from sandbox.runtime.compose import seed_state_volume
from sandbox.runtime.docker import (
    LABEL,
    UNPRIVILEGED,
    DockerRuntime,
    _save_config,
    ensure_image,
)
from sandbox.runtime.local import DEFAULT_BASE_PORT
from sandbox.state import RuntimeInfo
from simulators.common.config import SandboxConfig
from simulators.medmij.topology import Topology

log = logging.getLogger("pgo_sandbox.swarm")

STACK_FILE = "stack.yml"
REPLICAS_FILE = "swarm.json"  # the replicas of the last `up`, for `reset`
STACK_LABEL = "com.docker.stack.namespace"
LISTEN_ENV = "PGO_SANDBOX_SWARM_LISTEN"
LOOPBACK, EVERY_INTERFACE = "127.0.0.1", "0.0.0.0"


def edge_listen() -> str:
    """The host IP the edge publishes the nodes' ports on: 127.0.0.1, or 0.0.0.0 (every
    interface) when ``PGO_SANDBOX_SWARM_LISTEN`` says so. Another address is refused: this
    machine reaches the nodes at 127.0.0.1 (runtime.json), which a single other IP would not
    serve."""
    value = os.environ.get(LISTEN_ENV, "").strip()
    if not value:
        return LOOPBACK
    try:
        address = str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise RuntimeError(f"{LISTEN_ENV}={value!r} is no IP address: want {LOOPBACK} "
                           f"(the default) or {EVERY_INTERFACE} (every interface)") from exc
    if address not in (LOOPBACK, EVERY_INTERFACE):
        raise RuntimeError(f"{LISTEN_ENV}={value!r}: want {LOOPBACK} (the default) or "
                           f"{EVERY_INTERFACE} (every interface); this machine reaches the "
                           f"nodes at {LOOPBACK}")
    return address


def parse_replicas(items: list[str], replicable: list[str]) -> dict[str, int]:
    """``["dva-nexus=3"]`` -> ``{"dva-nexus": 3}``; ValueError says what is wrong. Only DVAs
    are replicable: their whole state is the shared SQLite file."""
    out = {}
    for item in items:
        node, eq, count = item.partition("=")
        if not eq or not count.isdigit() or not 1 <= int(count) <= 9:
            raise ValueError(f"--replicas {item!r}: want NODE=N with N from 1 to 9")
        if node not in replicable:
            raise ValueError(f"--replicas {item!r}: only DVAs are replicated "
                             f"({', '.join(replicable)})")
        out[node] = int(count)
    return out


class SwarmRuntime(DockerRuntime):
    """One stack per state directory (``pgo-sandbox-<hash>``) on the engine's swarm."""

    name = "swarm"
    tls_default = True  # the medmij profile with TLS, as the docker runtime (=0: plain HTTP)

    @property
    def volume(self) -> str:
        return f"{self.project}-state"

    def _containers(self) -> list:
        return self.client.containers.list(all=True, ignore_removed=True,
                                           filters={"label": f"{STACK_LABEL}={self.project}"})

    def _services(self) -> list:
        return self.client.services.list(filters={"label": f"{STACK_LABEL}={self.project}"})

    def _ensure_swarm(self) -> None:
        state = self.client.info().get("Swarm", {}).get("LocalNodeState")
        if state != "active":
            log.warning("this engine is no swarm manager: docker swarm init "
                        "--advertise-addr 127.0.0.1 (single node; `docker swarm leave "
                        "--force` undoes it)")
            self.client.swarm.init(advertise_addr="127.0.0.1")

    def _replicas(self, replicas: dict[str, int] | None) -> dict[str, int]:
        path = self.state_dir / REPLICAS_FILE
        if replicas is None:
            return json.loads(path.read_text("utf-8")) if path.exists() else {}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(replicas), "utf-8")
        return replicas

    def up(self, topology: Topology, base_port: int = DEFAULT_BASE_PORT, timeout: float = 60.0,
           on_progress: Callable[[str], None] | None = None,
           reference_data: tuple[tuple[str, str], ...] = (), *,
           profile: str = "medmij", replicas: dict[str, int] | None = None) -> RuntimeInfo:
        if profile != "medmij":
            raise RuntimeError("the swarm runtime always serves the medmij profile's "
                               f"hostnames, not {profile!r}")
        if reference_data:
            raise RuntimeError("reference data (--reference) needs the local runtime")
        if shutil.which("docker") is None:
            raise RuntimeError("`docker stack deploy` needs the docker CLI on this machine")
        listen = edge_listen()
        addresses = self.addresses(topology, base_port)
        check_can_start(self.state_dir, addresses)
        replicas = self._replicas(replicas)
        self.down()
        self._ensure_swarm()
        image = ensure_image(self.client)
        nonce = secrets.token_hex(8)
        _save_config(self.state_dir, topology, nonce, self.tls)
        labels = {LABEL: self.project, "pgo-sandbox.state-dir": str(self.state_dir)}
        seed_state_volume(self.client, self.volume, labels, image, self.state_dir)
        pki_volume = self.prepare_pki(topology, image, labels) if self.tls else None
        spec = swarm_stack(topology, base_port, image, nonce, self.volume, replicas, pki_volume)
        for node_id, service in spec["services"].items():
            service["labels"] = {**labels, "pgo-sandbox.node": node_id}
        stack_file = self.state_dir / STACK_FILE
        stack_file.write_text("# written by `pgo-sandbox up --runtime swarm`\n"
                              + yaml.safe_dump(spec, sort_keys=False), "utf-8")
        started = time.time()
        deploy = subprocess.run(["docker", "stack", "deploy", "--resolve-image", "never",
                                 "-c", str(stack_file), self.project],
                                capture_output=True, text=True, timeout=120)
        if deploy.returncode != 0:
            self.down()
            raise RuntimeError(f"docker stack deploy failed:\n{deploy.stderr.strip()}")
        try:
            self._start_edge(image, edge_forwards(topology, base_port, self.tls), listen,
                             labels)
        except DockerException as exc:
            self.down()
            raise RuntimeError(f"could not start the edge container: {exc}") from exc
        ids = {s.name.removeprefix(f"{self.project}_"): s.id for s in self._services()}
        info = RuntimeInfo(self.name, "medmij", addresses, ids, started)
        info.save(self.state_dir)
        urls = {n.id: addresses[n.hostname] for n in topology.nodes}
        try:
            wait_healthy(urls, timeout, on_progress=on_progress, nonce=nonce,
                         client=self.probe_client(addresses))
            self._wait_replicas(started + timeout)
        except (TimeoutError, RuntimeError) as exc:
            self.down()
            raise RuntimeError(f"{exc}; task logs under {self.state_dir / 'logs'}") from exc
        info.healthy_seconds = time.time() - started
        info.save(self.state_dir)
        return info

    def _edge_containers(self) -> list:
        return self.client.containers.list(all=True, ignore_removed=True, filters={
            "label": [f"{LABEL}={self.project}", f"pgo-sandbox.node={EDGE}"]})

    def _start_edge(self, image: str, forwards: list[str], listen: str,
                    labels: dict[str, str]) -> None:
        """The edge forwarder as a container on the stack's overlay network (created by
        ``docker stack deploy``), every node's port published on ``listen`` only. Its health
        check is off (the image's probes :8000, which the edge does not serve); it restarts
        with the engine, as the stack's tasks do."""
        ports = [int(f.split("=", 1)[0]) for f in forwards]
        self.client.containers.run(
            image, [EDGE, *forwards], entrypoint=["python", "-m", "sandbox.runtime.swarm"],
            name=f"{self.project}-{EDGE}", detach=True,
            labels={**labels, "pgo-sandbox.node": EDGE},
            network=f"{self.project}_{NETWORK}",
            ports={f"{port}/tcp": (listen, port) for port in ports},
            healthcheck={"test": ["NONE"]}, restart_policy={"Name": "unless-stopped"},
            **UNPRIVILEGED)
        if listen != LOOPBACK:
            log.warning("%s=%s: the edge publishes ports %d-%d on every interface of this "
                        "machine", LISTEN_ENV, listen, min(ports), max(ports))

    def _remove_edge(self) -> None:
        for container in self._edge_containers():
            try:
                container.remove(force=True)
            except NotFound:
                pass

    def _running_tasks(self) -> dict[str, tuple[int, int]]:
        """node id -> (tasks running, tasks wanted)."""
        out = {}
        for service in self._services():
            node = service.name.removeprefix(f"{self.project}_")
            wanted = service.attrs["Spec"].get("Mode", {}).get("Replicated", {}).get(
                "Replicas", 1)
            tasks = service.tasks(filters={"desired-state": "running"})
            out[node] = (sum(t["Status"]["State"] == "running" for t in tasks), wanted)
        return out

    def _wait_replicas(self, deadline: float) -> None:
        """Every replica running (healthy: a task with a health check runs once it passes),
        not just the first one per node that /health reached through the edge."""
        while True:
            short = {n: c for n, c in self._running_tasks().items() if c[0] < c[1]}
            if not short:
                return
            if time.time() > deadline:
                raise TimeoutError("replicas not running: " + ", ".join(
                    f"{n} {r}/{w}" for n, (r, w) in sorted(short.items())))
            time.sleep(0.5)

    def status(self, info: RuntimeInfo, topology: Topology) -> list[NodeStatus]:
        urls = {n.id: info.addresses[n.hostname] for n in topology.nodes}
        probes = probe_all(urls, SandboxConfig.load(self.state_dir / "sandbox.json").run_nonce,
                           client=self.probe_client(info.addresses))
        tasks = self._running_tasks()
        out = []
        for node in topology.nodes:
            ok, detail = probes[node.id]
            running, wanted = tasks.get(node.id, (0, 0))
            if running == 0:
                ok = False
            out.append(NodeStatus(node.id, node.role, node.hostname, urls[node.id], ok,
                                  f"swarm, {running}/{wanted} tasks, {detail}"))
        return out

    def logs(self, node_id: str) -> str | Path:
        """The log of every task of the node on this engine, one after the other (the engine's
        service-logs API can hang without follow; `docker service logs` spans machines)."""
        tasks = [c for c in self._containers() if c.labels.get("pgo-sandbox.node") == node_id]
        if not tasks:
            return self.state_dir / "logs" / f"{node_id}.log"
        return "".join(c.logs().decode("utf-8", errors="replace") for c in
                       sorted(tasks, key=lambda c: c.attrs.get("Created", "")))

    def down(self, timeout: float = 5.0) -> int:
        """The edge container removed, then ``docker stack rm`` after saving every service's
        log; waits until the tasks' containers and the network are gone (the state volume
        stays until ``wipe``)."""
        self._remove_edge()  # first: a container attached to the overlay keeps the network
        services = self._services()
        if services:
            logs = self.state_dir / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            for service in services:
                node = service.name.removeprefix(f"{self.project}_")
                text = self.logs(node) if node != EDGE else None
                if isinstance(text, str):  # a Path: no task left here, a saved log stays
                    (logs / f"{node}.log").write_text(text, "utf-8")
            subprocess.run(["docker", "stack", "rm", self.project], capture_output=True,
                           text=True, timeout=60)
        deadline = time.time() + 30 + timeout
        while self._containers() or self.client.networks.list(
                filters={"label": f"{STACK_LABEL}={self.project}"}):
            if time.time() > deadline:
                log.warning("stack %s: containers still stopping", self.project)
                break
            time.sleep(0.5)
        self._remove_pki_volume()
        (self.state_dir / "runtime.json").unlink(missing_ok=True)
        # a stack deployed before the edge became a container has it as a service
        return len([s for s in services if not s.name.endswith(f"_{EDGE}")])


# --- the edge forwarder (runs inside the image) -----------------------------------------------
async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still carry the answer
    except (ConnectionError, OSError):
        pass


class Forward:
    """One published port: each connection goes to the next task of ``host`` (round robin
    over the addresses the swarm's DNS gives; a task that refuses is skipped)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.turn = itertools.count()

    async def __call__(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        upstream = None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM)
            addresses = sorted({i[4][0] for i in infos})
            start = next(self.turn)
            for k in range(len(addresses)):
                address = addresses[(start + k) % len(addresses)]
                try:
                    upstream = await asyncio.wait_for(
                        asyncio.open_connection(address, self.port), 3)
                    break
                except (OSError, TimeoutError):
                    continue
            if upstream is not None:
                await asyncio.gather(_pipe(reader, upstream[1]), _pipe(upstream[0], writer))
        except OSError:
            pass  # the node has no task yet (DNS): the client sees a closed connection
        finally:
            for w in (writer, upstream[1] if upstream else None):
                if w is not None:
                    w.close()


async def serve_edge(forwards: list[str]) -> None:
    """``PORT=HOST:TARGET`` each: listen on PORT, forward to HOST:TARGET."""
    servers = []
    for item in forwards:
        port, _, target = item.partition("=")
        host, _, target_port = target.rpartition(":")
        servers.append(await asyncio.start_server(Forward(host, int(target_port)),
                                                  "0.0.0.0", int(port)))
        print(f"edge: :{port} -> {host}:{target_port}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv: list[str] | None = None) -> None:
    """python -m sandbox.runtime.swarm edge 18400=registry.sandbox.test:8000 ..."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != EDGE or len(args) < 2:
        print(main.__doc__, file=sys.stderr)
        raise SystemExit(2)
    asyncio.run(serve_edge(args[1:]))


if __name__ == "__main__":
    main()
