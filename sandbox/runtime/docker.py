"""The docker runtime: every node a container from one image, on one network per sandbox.

It is the ``medmij`` profile on any OS, with real TLS. ``up`` makes the sandbox PKI in the
state directory (``sandbox.pki``, as the local medmij profile does) and copies the CA bundle,
the CRL and the nodes' certificates and keys into a volume mounted read-only at /state/pki in
every container. Inside the network each node serves HTTPS on port 443 under its MedMij
hostname (a network alias), so the lists' https://<hostname> URIs need no port; its back
channels take mutual TLS and the Whitelist gate on the peer certificate, its token endpoint
authenticates the client by certificate: ``simulators.serve``'s TLS path, the local profile's
code. From this machine each node is reached only through a port published on 127.0.0.1
(``RuntimeInfo.addresses``, https://127.0.0.1:<port>); the HTTP client rewrites
https://<hostname> URLs to those and keeps the hostname for SNI and certificate checks
against the sandbox CA, so scenarios run unchanged. (``docker compose`` on the committed
compose/docker-compose.yml stays plain HTTP inside: see ``attach_compose``.)

``PGO_SANDBOX_DOCKER_TLS=0`` keeps the former plain network (http://<hostname>:8000, same
lists): for ``pgo-sandbox load``, whose Locust users speak neither the sandbox CA nor mutual
TLS yet (as with the local runtime's medmij profile).

Revocation while the containers run: the PKI volume is read-only and made at ``up``, so a
CRL written later on this machine never reaches it. Instead each node keeps its own CRL file
in its node directory, seeded from the volume; ``pgo-sandbox ca revoke`` hands the new CRL to
the registry (``PUT /admin/crl``, admin token), the registry publishes it at ``/pki/crl.pem``
and every other node fetches it with its list refresh (``simulators.serve``): a revoked
certificate is refused at the next handshake by every node within ``list_refresh_seconds``.

The admin token (``admin.token``) is the host state directory's: ``up`` copies it into the
nodes' shared /state volume before any container starts, so the CLI on this machine and every
node hold the same one. Under ``docker compose`` the first node (the registry; the others wait
for it to be healthy) creates it in the volume, and ``attach`` copies it out. Each ``up`` also
gives the containers a fresh nonce (``PGO_SANDBOX_RUN_NONCE``) that /health answers, so a probe
never mistakes another program on a published port for a node.

    runtime = DockerRuntime(state_dir)
    info = runtime.up(load_topology(), base_port=18400)
    runtime.down()
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
import sys
import tarfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from docker.errors import DockerException

from sandbox.compose_gen import (
    PKI_MOUNT,
    TLS_HEALTH_TEST,
    TLS_PORT,
    TLS_SYSCTLS,
    topology_toml,
)
from sandbox.pki import BUNDLE, CRL_FILE, ISSUING_FILE, ROOT_FILE, Pki
from sandbox.runtime import NodeStatus, check_can_start, probe_all, wait_healthy, wipe_state
from sandbox.runtime.local import DEFAULT_BASE_PORT
from sandbox.state import RuntimeInfo
from simulators.common import tls
from simulators.common.config import SECRET_FILE, SandboxConfig, ensure_secret
from simulators.common.http import async_client
from simulators.common.lists import xsd_folder
from simulators.common.security import ADMIN_TOKEN_FILE, ensure_admin_token
from simulators.medmij.topology import Topology

log = logging.getLogger("pgo_sandbox.docker")

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "compose/Dockerfile"
IMAGE_REPO = "pgo-sandbox-node"
DEFAULT_BASE_IMAGE = "python:3.12-slim"
# what .ci/docker-setup.sh builds without any registry (debootstrap + docker import)
LOCAL_BASE_IMAGE = "pgo-sandbox-base:bookworm"
PULL_PROBE_SECONDS = 5.0
NETWORK_PORT = 8000
TOPOLOGY_IN_CONTAINER = "/tmp/pgo-topology.toml"
LABEL = "pgo-sandbox.project"
STATE_IN_CONTAINER = "/state"
XSD_IN_STATE = "shared/medmij/lists/xsd"  # the image's PGO_SANDBOX_SHARED is /state/shared
NODE_UID = 10001  # the image's user (compose/Dockerfile)
# every container: no capability and no way to gain one (a node binds 443 by the port sysctl,
# not NET_BIND_SERVICE); the compose file and the stack say the same (``compose_gen``)
UNPRIVILEGED = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges"]}
# What enters the image (mirrors .dockerignore): a change here means a new image tag.
IMAGE_INPUTS = ("pyproject.toml", "README.md", DOCKERFILE, ".dockerignore")
IMAGE_PACKAGES = ("sandbox", "simulators", "scenarios", "loadtests")


TLS_ENV = "PGO_SANDBOX_DOCKER_TLS"
# the image's HEALTHCHECK asks http://127.0.0.1:8000; a TLS node answers on 443 (nanoseconds)
TLS_HEALTHCHECK = {"test": TLS_HEALTH_TEST, "interval": 2_000_000_000, "timeout": 3_000_000_000,
                   "retries": 30, "start_period": 60_000_000_000}


def wants_tls(default: bool = True) -> bool:
    """HTTPS with mutual TLS inside the network: PGO_SANDBOX_DOCKER_TLS=1 or 0, else the
    runtime's default (on for docker, compose and swarm)."""
    value = os.environ.get(TLS_ENV, "").strip()
    return default if value not in ("0", "1") else value == "1"


def _engine():
    """A Docker SDK client, or RuntimeError saying why there is none (the CLI prints it)."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise RuntimeError(f"no Docker engine reachable ({exc}); start one, or use "
                           "--runtime local") from exc
    return client


def base_image() -> str:
    """The base asked for: $PGO_SANDBOX_BASE_IMAGE, else python:3.12-slim (no probing)."""
    return os.environ.get("PGO_SANDBOX_BASE_IMAGE", DEFAULT_BASE_IMAGE)


def _present(client, image: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(image)
    except ImageNotFound:
        return False
    return True


def _pullable(client, image: str, seconds: float = PULL_PROBE_SECONDS) -> bool:
    """Whether the engine reaches a registry that has ``image``: it asks for the manifest only
    (no layers), so the answer comes in a second where a registry answers, and at once (DNS
    error) or after ``seconds`` where none does."""
    from requests.exceptions import RequestException

    before, client.api.timeout = client.api.timeout, seconds
    try:
        client.api.inspect_distribution(image)
    except (DockerException, RequestException, OSError):
        return False
    finally:
        client.api.timeout = before
    return True


def choose_base_image(client) -> tuple[str, str]:
    """The base the node image is built on, and why: $PGO_SANDBOX_BASE_IMAGE when set; else
    python:3.12-slim when it is here or a registry serves it; else the locally built base
    (.ci/docker-setup.sh), so a machine without a registry builds too."""
    if os.environ.get("PGO_SANDBOX_BASE_IMAGE"):
        return os.environ["PGO_SANDBOX_BASE_IMAGE"], "set by PGO_SANDBOX_BASE_IMAGE"
    if _present(client, DEFAULT_BASE_IMAGE):
        return DEFAULT_BASE_IMAGE, "present locally"
    if _pullable(client, DEFAULT_BASE_IMAGE):
        return DEFAULT_BASE_IMAGE, "a registry serves it"
    if _present(client, LOCAL_BASE_IMAGE):
        return LOCAL_BASE_IMAGE, (f"no registry serves {DEFAULT_BASE_IMAGE}; the base "
                                  ".ci/docker-setup.sh built locally")
    raise RuntimeError(f"no base image: {DEFAULT_BASE_IMAGE} is neither here nor pullable and "
                       f"{LOCAL_BASE_IMAGE} is not built; run .ci/docker-setup.sh (builds it "
                       "without a registry), `docker pull`, or set PGO_SANDBOX_BASE_IMAGE")


def source_hash(root: Path = ROOT, base: str | None = None) -> str:
    """A digest of everything the image is built from, so a stale image is never reused."""
    digest = hashlib.sha256(f"base={base or base_image()}\n".encode())
    files = [root / name for name in IMAGE_INPUTS]
    for package in IMAGE_PACKAGES:
        files += sorted(p for p in (root / package).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts
                        and p.suffix not in (".pyc", ".sqlite"))
    for path in files:
        if path.is_file():
            digest.update(f"{path.relative_to(root)}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_image(client, root: Path = ROOT, base: str | None = None) -> str:
    """The node image for the current sources: taken from $PGO_SANDBOX_IMAGE, found, or built."""
    from docker.errors import ImageNotFound

    if os.environ.get("PGO_SANDBOX_IMAGE"):
        return os.environ["PGO_SANDBOX_IMAGE"]
    if base is None:
        base, why = choose_base_image(client)
        log.warning("base image: %s (%s)", base, why)  # the one line saying which and why
    tag = f"{IMAGE_REPO}:{source_hash(root, base)}"
    try:
        client.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    if not (root / DOCKERFILE).is_file():
        raise RuntimeError(f"image {tag} is not built and {root / DOCKERFILE} is missing: "
                           "build from a checkout, or set PGO_SANDBOX_IMAGE")
    # a warning, so that even an unconfigured logger tells the CLI user why `up` waits
    log.warning("building image %s on %s (minutes the first time, seconds after)", tag, base)
    start = time.perf_counter()
    stream = client.api.build(path=str(root), dockerfile=DOCKERFILE, tag=tag, decode=True,
                              buildargs={"BASE_IMAGE": base}, rm=True, forcerm=True,
                              labels={"pgo-sandbox.source": tag.split(":")[1]})
    tail: list[str] = []
    pending = ""  # a chunk may hold several lines, or part of one: keep them one per line
    for chunk in stream:
        if "error" in chunk:
            raise RuntimeError(build_failure(chunk["error"], tail + [pending.rstrip()]))
        *complete, pending = (pending + chunk.get("stream", "")).split("\n")
        for line in complete:
            if line.strip():
                tail.append(line.rstrip())
                if line.startswith("Step "):
                    log.info("%s", line.rstrip())
    image = client.images.get(tag)
    image.tag(IMAGE_REPO, "latest")
    log.info("built %s in %.1f s", tag, time.perf_counter() - start)
    _prune_old_images(client, keep=tag)
    return tag


def build_failure(error: str, tail: list[str], lines: int = 30) -> str:
    """What a failed build tells: the error, then the build log's last lines, one per line."""
    return "\n".join([f"image build failed: {error.rstrip()}", "last lines of the build log:",
                      *(f"  {line}" for line in tail[-lines:] if line.strip())])


def _prune_old_images(client, keep: str) -> None:
    """Older source tags pile up while developing; drop those no container uses."""
    from docker.errors import APIError

    for image in client.images.list(name=IMAGE_REPO):
        if any(t in (keep, f"{IMAGE_REPO}:latest") for t in image.tags):
            continue
        for t in image.tags:
            try:
                client.images.remove(t)
            except APIError:
                pass  # still used by a container: kept


def project_name(state_dir: Path) -> str:
    """Names of containers, network and volume: distinct per state directory."""
    return "pgo-sandbox-" + hashlib.sha1(str(state_dir.resolve()).encode()).hexdigest()[:8]


def _tar_one(name: str, data: bytes, owner: int = 0, mode: int = 0o644) -> bytes:
    return _tar_files([(name, data, owner, owner, mode)])


def _tar_files(files: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A tar of (name, data, uid, gid, mode) entries: the engine keeps owner and mode."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, uid, gid, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            info.uid, info.gid = uid, gid
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def state_files(state_dir: Path) -> bytes:
    """A tar of what the nodes share from this machine, to be in their state volume before
    any of them starts: the admin token and the sandbox secret (the pseudonyms' key and the
    MGO's localisation credential), mode 0600, which nodes that start together (Swarm has no
    start order; another machine has another volume) would otherwise each make; and the
    official list XSDs when this machine has them (``simulators.common.lists.xsd_folder``:
    the image does not ship them), under ``shared/`` where the image's
    ``PGO_SANDBOX_SHARED`` points, so the nodes validate the lists as they do outside
    containers."""
    files = [
        (ADMIN_TOKEN_FILE, ensure_admin_token(state_dir).encode(), NODE_UID, NODE_UID, 0o600),
        (SECRET_FILE, ensure_secret(state_dir).hex().encode(), NODE_UID, NODE_UID, 0o600)]
    folder = xsd_folder()
    if folder is not None:
        files += [(f"{XSD_IN_STATE}/{xsd.name}", xsd.read_bytes(), NODE_UID, NODE_UID, 0o644)
                  for xsd in sorted(folder.glob("*.xsd"))]
    return _tar_files(files)


def _save_config(state_dir: Path, topology: Topology, run_nonce: str = "",
                 use_tls: bool = True) -> None:
    """sandbox.json for commands on this machine: medmij profile, the in-network address map
    (https://<hostname> on 443, or http://<hostname>:8000 for the committed compose file)."""
    if use_tls:
        network_map = {n.hostname: f"https://{n.hostname}" for n in topology.nodes}
    else:
        network_map = {n.hostname: f"http://{n.hostname}:{NETWORK_PORT}"
                       for n in topology.nodes}
    state_dir.mkdir(parents=True, exist_ok=True)
    SandboxConfig(topology, "medmij", network_map, state_dir, run_nonce=run_nonce).save(
        state_dir / "sandbox.json")


def make_pki(state_dir: Path, topology: Topology) -> Path:
    """The sandbox PKI in ``<state>/pki`` (the local medmij profile's own code: one
    certificate per node, same seed, same revocations), trusted by this process's clients."""
    pki_dir = state_dir / "pki"
    Pki(topology.seed, pki_dir, renew=True).issue_nodes(topology.nodes)
    tls.trust(pki_dir)
    return pki_dir


def pki_files(pki_dir: Path, topology: Topology) -> list[tuple[str, bytes, int, int, int]]:
    """What the nodes' read-only PKI volume holds: the CA bundle and certificates, the CRL,
    and each node's chain and key. Owned by root, group the image's user: a node reads its
    key (0440) and cannot change a file. Certificates issued for outside participants
    (``ca issue``) stay on this machine."""
    public = [BUNDLE, CRL_FILE, ROOT_FILE, ISSUING_FILE]
    public += [f"{n.hostname}.crt" for n in topology.nodes]
    files = [(name, (pki_dir / name).read_bytes(), 0, NODE_UID, 0o444) for name in public]
    files += [(f"{n.hostname}.key", (pki_dir / f"{n.hostname}.key").read_bytes(), 0, NODE_UID,
               0o440) for n in topology.nodes]
    return files


def fill_volume(client, name: str, labels: dict[str, str], image: str, tar: bytes,
                fresh: bool = False, mount: str = PKI_MOUNT) -> None:
    """Put a tar into a named volume (created when missing; ``fresh``: emptied first) before
    any node starts: a created, never started container carries it, so the volume can be
    mounted read-only by the nodes and no node has to start first. ``mount`` matters: a new
    volume first mounted on an image folder takes that folder's owner (/state: the node user;
    /state/pki is no image folder, so that volume stays root's)."""
    from docker.errors import NotFound

    try:
        volume = client.volumes.get(name)
        if fresh:
            volume.remove(force=True)
            raise NotFound("recreated")
    except NotFound:
        client.volumes.create(name, labels=labels)
    carrier = client.containers.create(
        image, command=["--help"], labels=labels,
        volumes={name: {"bind": mount, "mode": "rw"}})
    try:
        carrier.put_archive(mount, tar)
    finally:
        carrier.remove(force=True)


def tls_client(addresses: dict[str, str]) -> Callable[[], object]:
    """The probes' client factory for https://127.0.0.1:<port> addresses: SNI and the
    certificate check use the node's hostname, trust the sandbox CA (``tls.trust``)."""

    def client():
        return async_client(addresses, timeout=5.0)
    return client


def _copy_admin_token_out(client, base_port: int, state_dir: Path) -> bool:
    """After `docker compose up`: copy admin.token from the nodes' volume (through the
    container publishing base_port, the registry) to this machine's state directory."""
    for container in client.containers.list(ignore_removed=True):
        ports = container.attrs.get("NetworkSettings", {}).get("Ports") or {}
        published = {b.get("HostPort") for bindings in ports.values() for b in bindings or ()}
        if str(base_port) not in published:
            continue
        stream, _ = container.get_archive(f"{STATE_IN_CONTAINER}/{ADMIN_TOKEN_FILE}")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(ADMIN_TOKEN_FILE)
            token = member.read().decode().strip() if member else ""
        if not token:
            return False
        path = state_dir / ADMIN_TOKEN_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        return True
    return False


def attach_compose(state_dir: Path, topology: Topology,
                   base_port: int = DEFAULT_BASE_PORT) -> RuntimeInfo:
    """Point this machine's commands (scenarios, status) at a `docker compose up` sandbox,
    whose ports compose/docker-compose.yml publishes from base_port on."""
    _save_config(state_dir, topology, use_tls=False)  # the committed file is plain HTTP
    addresses = {n.hostname: f"http://127.0.0.1:{base_port + i}"
                 for i, n in enumerate(topology.nodes)}
    try:
        copied = _copy_admin_token_out(_engine(), base_port, state_dir)
    except (RuntimeError, DockerException) as exc:
        log.warning("admin token not copied (%s)", exc)
        copied = False
    if not copied:
        log.warning("copy the admin token by hand for the admin API (vendor commands): "
                    "docker compose exec registry cat /state/%s > %s", ADMIN_TOKEN_FILE,
                    state_dir / ADMIN_TOKEN_FILE)
    # runtime "compose" with no processes: attached, compose owns the containers; `down`
    # (ComposeRuntime) stops them, and a sandbox gone by `docker-compose down` blocks no `up`
    info = RuntimeInfo("compose", "medmij", addresses, {}, time.time())
    info.save(state_dir)
    return info


class DockerRuntime:
    """Each node a container of one locally built image, on one network, one state volume."""

    name = "docker"
    tls_default = True

    def __init__(self, state_dir: Path, client=None, tls: bool | None = None) -> None:
        self.state_dir = state_dir
        self.project = project_name(state_dir)
        self._client = client
        self.tls = wants_tls(self.tls_default) if tls is None else tls

    @property
    def client(self):
        if self._client is None:
            self._client = _engine()
        return self._client

    @property
    def pki_volume(self) -> str:
        return f"{self.project}-pki"

    def addresses(self, topology: Topology, base_port: int) -> dict[str, str]:
        """Where this machine reaches each node: its published port, over TLS."""
        scheme = "https" if self.tls else "http"
        return {node.hostname: f"{scheme}://127.0.0.1:{base_port + i}"
                for i, node in enumerate(topology.nodes)}

    def probe_client(self, addresses: dict[str, str]):
        """The client factory of health probes: TLS-aware for https addresses."""
        if any(a.startswith("https://") for a in addresses.values()):
            tls.trust(self.state_dir / "pki")
            return tls_client(addresses)
        return httpx.AsyncClient  # plain network, or the committed compose file attached

    def prepare_pki(self, topology: Topology, image: str, labels: dict[str, str]) -> str:
        """The sandbox PKI in the state directory, copied into a fresh volume the nodes
        mount read-only at /state/pki; its name."""
        pki_dir = make_pki(self.state_dir, topology)
        fill_volume(self.client, self.pki_volume, labels, image,
                    _tar_files(pki_files(pki_dir, topology)), fresh=True)
        return self.pki_volume

    def _containers(self) -> list:
        # ignore_removed: one the engine removes between the list and its inspection is gone,
        # not an error (a swarm's tasks go on the engine's schedule)
        return self.client.containers.list(all=True, ignore_removed=True,
                                           filters={"label": f"{LABEL}={self.project}"})

    def write_state_file(self, name: str, data: bytes | None) -> None:
        """Put (or remove, with None) a file in the nodes' shared /state volume, e.g. the
        sandbox clock: host-side commands cannot write into a named volume directly."""
        running = [c for c in self._containers() if c.status == "running"]
        if not running:
            raise RuntimeError("no running container of this sandbox")
        container = running[0]
        if data is None:
            container.exec_run(["rm", "-f", f"/state/{name}"])
            return
        container.put_archive("/state", _tar_one(name, data, owner=10001))

    def up(self, topology: Topology, base_port: int = DEFAULT_BASE_PORT, timeout: float = 60.0,
           on_progress: Callable[[str], None] | None = None,
           reference_data: tuple[tuple[str, str], ...] = (), *,
           profile: str = "medmij") -> RuntimeInfo:
        if profile != "medmij":  # inside the network every node is its MedMij hostname
            raise RuntimeError("the docker runtime always serves the medmij profile's "
                               f"hostnames, not {profile!r}")
        if reference_data:  # the folders are on this machine, not in the image or volume
            raise RuntimeError("reference data (--reference) needs the local runtime")
        addresses = self.addresses(topology, base_port)
        check_can_start(self.state_dir, addresses)
        self.down()  # leftovers of a crashed run under the same state directory, if any
        image = ensure_image(self.client)
        nonce = secrets.token_hex(8)
        _save_config(self.state_dir, topology, nonce, self.tls)
        state = state_files(self.state_dir)
        started = time.time()
        try:
            ids = self._start(topology, image, addresses, nonce, state)
        except DockerException as exc:
            self.down()
            raise RuntimeError(f"could not start the containers: {exc}") from exc
        info = RuntimeInfo("docker", "medmij", addresses, ids, started)
        info.save(self.state_dir)
        urls = {n.id: addresses[n.hostname] for n in topology.nodes}
        try:
            wait_healthy(urls, timeout, alive=_Liveness(self), on_progress=on_progress,
                         nonce=nonce, client=self.probe_client(addresses))
        except (TimeoutError, RuntimeError) as exc:
            self.down()
            raise RuntimeError(f"{exc}; container logs under {self.state_dir / 'logs'}") from exc
        # from the first container created: creating and starting eight takes seconds too
        info.healthy_seconds = time.time() - started
        info.save(self.state_dir)
        return info

    def _start(self, topology: Topology, image: str, addresses: dict[str, str], nonce: str,
               state: bytes) -> dict[str, str]:
        """Create the network, the state volume and one container per node; put the admin
        token and the secret into the volume (``state_files``); start them all."""
        labels = {LABEL: self.project, "pgo-sandbox.state-dir": str(self.state_dir)}
        network = self.client.networks.create(self.project, driver="bridge", labels=labels)
        volume = self.client.volumes.create(f"{self.project}-state", labels=labels)
        mounts = {volume.name: {"bind": STATE_IN_CONTAINER, "mode": "rw"}}
        inside, environment, options = NETWORK_PORT, {"PGO_SANDBOX_RUN_NONCE": nonce}, {}
        if self.tls:  # the medmij profile's TLS: PKI read-only, 443, a TLS health check
            mounts[self.prepare_pki(topology, image, labels)] = {"bind": PKI_MOUNT, "mode": "ro"}
            inside = TLS_PORT
            environment |= {"PGO_SANDBOX_NETWORK_PORT": str(TLS_PORT), "PGO_SANDBOX_TLS": "1"}
            options = {"sysctls": TLS_SYSCTLS, "healthcheck": TLS_HEALTHCHECK}
        topology_tar = _tar_one(Path(TOPOLOGY_IN_CONTAINER).name,
                                topology_toml(topology).encode())
        containers = []
        for node in topology.nodes:
            port = int(addresses[node.hostname].rsplit(":", 1)[1])
            container = self.client.containers.create(
                image,
                command=[node.id, "--topology", TOPOLOGY_IN_CONTAINER],
                name=f"{self.project}-{node.id}",
                hostname=node.hostname,
                labels={**labels, "pgo-sandbox.node": node.id},
                ports={f"{inside}/tcp": ("127.0.0.1", port)},
                volumes=mounts,
                environment=environment,
                **options,
                **UNPRIVILEGED,
                network=network.name,
                networking_config={network.name: self.client.api.create_endpoint_config(
                    aliases=[node.hostname])},
            )
            container.put_archive(str(Path(TOPOLOGY_IN_CONTAINER).parent), topology_tar)
            containers.append((node.id, container))
        # before any node starts (a node would create its own): the host's token and secret
        containers[0][1].put_archive(STATE_IN_CONTAINER, state)
        for _, container in containers:
            container.start()
        return {node_id: container.id for node_id, container in containers}

    def status(self, info: RuntimeInfo, topology: Topology) -> list[NodeStatus]:
        urls = {n.id: info.addresses[n.hostname] for n in topology.nodes}
        config = SandboxConfig.load(self.state_dir / "sandbox.json")
        probes = probe_all(urls, config.run_nonce, client=self.probe_client(info.addresses))
        states = {c.labels.get("pgo-sandbox.node"): c for c in self._containers()}
        out = []
        for node in topology.nodes:
            ok, detail = probes[node.id]
            container = states.get(node.id)
            if not info.processes:  # attached to `docker compose up`: compose owns them
                out.append(NodeStatus(node.id, node.role, node.hostname, urls[node.id], ok,
                                      f"compose, {detail}"))
                continue
            if container is None:
                ok, detail = False, "container gone"
            elif container.status != "running":
                ok, detail = False, f"container {container.status}"
            short = container.short_id if container else "-"
            out.append(NodeStatus(node.id, node.role, node.hostname, urls[node.id], ok,
                                  f"container {short}, {detail}"))
        return out

    def down(self, timeout: float = 5.0) -> int:
        """Stop and remove every container and the network; the state volume stays (reset)."""
        containers = self._containers()
        logs = self.state_dir / "logs"
        if containers:
            logs.mkdir(parents=True, exist_ok=True)

        def stop(container) -> None:
            node = container.labels.get("pgo-sandbox.node", container.name)
            if container.status == "running":
                container.stop(timeout=int(timeout))
            (logs / f"{node}.log").write_bytes(container.logs())  # kept for `logs` after down
            container.remove(force=True)

        with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
            list(pool.map(stop, containers))
        for network in self.client.networks.list(filters={"label": f"{LABEL}={self.project}"}):
            network.remove()
        self._remove_pki_volume()  # made afresh by every `up` from <state>/pki
        (self.state_dir / "runtime.json").unlink(missing_ok=True)
        return len(containers)

    def _remove_pki_volume(self) -> None:
        from docker.errors import APIError, NotFound

        try:
            self.client.volumes.get(self.pki_volume).remove(force=True)
        except NotFound:
            pass
        except APIError as exc:  # still mounted by a container someone else started
            log.warning("PKI volume %s kept (%s)", self.pki_volume, exc)

    def logs(self, node_id: str) -> str | Path:
        for container in self._containers():
            if container.labels.get("pgo-sandbox.node") == node_id:
                return container.logs().decode("utf-8", errors="replace")
        return self.state_dir / "logs" / f"{node_id}.log"

    def wipe(self) -> None:
        """Forget all node data (the state volume, saved logs): back to the seed."""
        for volume in self.client.volumes.list(filters={"label": f"{LABEL}={self.project}"}):
            volume.remove(force=True)
        wipe_state(self.state_dir)


class _Liveness:
    """``alive(node)`` for wait_healthy, asking the engine at most twice a second."""

    def __init__(self, runtime: DockerRuntime) -> None:
        self.runtime = runtime
        self.checked = 0.0
        self.running: set[str] = set()

    def __call__(self, node_id: str) -> bool:
        if time.monotonic() - self.checked > 0.5:
            self.running = {c.labels.get("pgo-sandbox.node") for c in self.runtime._containers()
                            if c.status in ("created", "running")}
            self.checked = time.monotonic()
        return node_id in self.running


def main(argv: list[str] | None = None) -> None:
    """Helpers around the runtime, for scripts and compose users:

    build            make sure the node image for the current sources exists; print its tag
    base             print the base image a build would use (python:3.12-slim where a
                     registry serves it, else the local pgo-sandbox-base:bookworm)
    size IMAGE       print the image's size next to its base image's
    attach           after `docker compose up`: write the state files that let
                     `pgo-sandbox status` and `pgo-sandbox scenario run` reach that sandbox
    """
    import argparse

    from sandbox.state import default_state_dir
    from simulators.medmij.topology import load_topology

    parser = argparse.ArgumentParser(prog="python -m sandbox.runtime.docker",
                                     description=main.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build")
    sub.add_parser("base")
    sub.add_parser("size").add_argument("image")
    attach = sub.add_parser("attach")
    attach.add_argument("--state-dir", type=Path, default=None)
    attach.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT)
    args = parser.parse_args(argv)
    if args.command == "attach":
        state = args.state_dir or default_state_dir()
        attach_compose(state, load_topology(), args.base_port)
        print(f"attached {state} to the compose sandbox on 127.0.0.1:{args.base_port}+")
        return
    client = _engine()
    if args.command == "build":
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        print(ensure_image(client))
    elif args.command == "base":
        image, why = choose_base_image(client)
        print(image)
        print(f"base image: {image} ({why})", file=sys.stderr)
    else:
        size = client.images.get(args.image).attrs["Size"] / 1e6
        base = client.images.get(base_image()).attrs["Size"] / 1e6
        print(f"image {args.image}: {size:.0f} MB ({base_image()} {base:.0f} MB + "
              f"{size - base:.0f} MB of sandbox and dependencies)")

if __name__ == "__main__":
    main()
