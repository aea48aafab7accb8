"""Locust's master and workers as containers on the sandbox's own Docker network.

``pgo-sandbox load FLOW --workers N --worker-containers`` runs the load where the nodes are:
one master and N workers from the load variant of the project's image (compose/Dockerfile's
``load`` stage: the node image's venv plus Locust, tagged ``pgo-sandbox-load:<source hash>``
like the node image), attached to the network of a docker, compose or swarm sandbox. Inside
that network every node answers under its MedMij hostname (``http://<hostname>:8000``, the
sandbox's own address map in sandbox.json), so the load never leaves the engine and this
machine never addresses a container's private IP. What the master writes (CSV, HTML, JSON)
comes back through the run's report folder, bind-mounted at ``/reports``; the state
directory is mounted read-only at its own path so ``loadtests.target`` reads the topology and
test persons as it does on this machine.

Every container carries the sandbox's project label and ``pgo-sandbox.load=<run id>``; the
``with`` block removes them all at its end, after a deadline, on Ctrl-C and on SIGTERM (and
``pgo-sandbox down`` of a docker sandbox removes leftovers of a crashed run by the label).

    with LoadContainers(sandbox, out_dir, workers=2) as fleet:
        fleet.run_phase("flow", ["collect.py"], locust_args, env, deadline=180)
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from types import FrameType

from sandbox.runtime.docker import (
    DOCKERFILE,
    LABEL,
    ROOT,
    UNPRIVILEGED,
    _engine,
    build_failure,
    choose_base_image,
    project_name,
    source_hash,
)
from sandbox.state import Running
from simulators.common.tls import BUNDLE

log = logging.getLogger("pgo_sandbox.load")

LOAD_REPO = "pgo-sandbox-load"  # deploy k8s's default --load-image is pgo-sandbox-load:latest
LOAD_TARGET = "load"  # compose/Dockerfile's stage
LOAD_LABEL = "pgo-sandbox.load"
FLOWS_IN_IMAGE = PurePosixPath("/opt/loadtests")
REPORTS_IN_CONTAINER = PurePosixPath("/reports")
MASTER_PORT = 5557
CEILING_PORT = 8000
CONTAINER_RUNTIMES = ("docker", "compose", "swarm")
WORKERS_WAIT_SECONDS = 60  # the master gives up when the workers have not all come by then


class LoadContainerError(RuntimeError):
    """The containerised run cannot start or did not finish (the CLI prints it, exit 1)."""


def refuse_reason(sandbox: Running) -> str | None:
    """Why this sandbox cannot take container workers, or None. A local sandbox's nodes
    listen on this machine's loopback, which a container reaches only through a private
    address of the host: refused rather than sending the load there."""
    runtime = sandbox.info.runtime
    if runtime in CONTAINER_RUNTIMES:
        return None
    return (f"--worker-containers needs a sandbox running in containers (up --runtime docker, "
            f"compose or swarm); this one runs {runtime!r} on 127.0.0.1, which containers "
            "cannot reach without addressing a private IP of this machine: drop "
            "--worker-containers (--workers N runs the workers here as processes)")


def ensure_load_image(client, root: Path = ROOT) -> str:
    """The load image for the current sources: $PGO_SANDBOX_LOAD_IMAGE, found, or built from
    compose/Dockerfile's ``load`` stage on the node image's base (same choice, same hash)."""
    from docker.errors import ImageNotFound

    if os.environ.get("PGO_SANDBOX_LOAD_IMAGE"):
        return os.environ["PGO_SANDBOX_LOAD_IMAGE"]
    base, why = choose_base_image(client)
    tag = f"{LOAD_REPO}:{source_hash(root, base)}"
    try:
        client.images.get(tag)
        return tag
    except ImageNotFound:
        pass
    if not (root / DOCKERFILE).is_file():
        raise LoadContainerError(f"image {tag} is not built and {root / DOCKERFILE} is "
                                 "missing: build from a checkout, or set PGO_SANDBOX_LOAD_IMAGE")
    log.warning("building load image %s on %s (%s; a minute the first time, seconds after)",
                tag, base, why)
    stream = client.api.build(path=str(root), dockerfile=DOCKERFILE, tag=tag, decode=True,
                              target=LOAD_TARGET, rm=True, forcerm=True,
                              buildargs={"BASE_IMAGE": base},
                              labels={"pgo-sandbox.source": tag.split(":")[1]})
    tail: list[str] = []
    for chunk in stream:
        if "error" in chunk:
            raise LoadContainerError(build_failure(chunk["error"], tail))
        tail += [line.rstrip() for line in chunk.get("stream", "").splitlines() if line.strip()]
    client.images.get(tag).tag(LOAD_REPO, "latest")
    _prune_old(client, keep=tag)
    return tag


def _prune_old(client, keep: str) -> None:
    """Older source tags of the load image pile up while developing: drop the unused ones."""
    from docker.errors import APIError

    for image in client.images.list(name=LOAD_REPO):
        for t in image.tags:
            if t not in (keep, f"{LOAD_REPO}:latest"):
                try:
                    client.images.remove(t)
                except APIError:
                    pass  # in use: kept


def sandbox_network(client, sandbox: Running) -> str:
    """The network the sandbox's nodes share: the one of its node containers named after its
    project (docker: ``<project>``; compose and swarm: ``<project>_<network>``)."""
    project = project_name(sandbox.state_dir)
    for key in (LABEL, "com.docker.compose.project", "com.docker.stack.namespace"):
        for container in client.containers.list(ignore_removed=True,
                                                filters={"label": f"{key}={project}"}):
            if LOAD_LABEL in container.labels:
                continue
            networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
            for name in networks:
                if name.startswith(project):
                    return name
    raise LoadContainerError(f"no running container of this sandbox ({project}) on a network "
                             f"of its own; is it up? (`pgo-sandbox status`)")


def network_addresses(sandbox: Running) -> dict[str, str]:
    """hostname -> base URL inside the network, as the nodes reach each other (sandbox.json):
    what ``PGO_LOAD_ADDRESSES`` gives the Locust containers instead of the published ports."""
    return {n.hostname: sandbox.config.addresses[n.hostname] for n in sandbox.topology.nodes}


def container_env(env: dict[str, str], out_dir: Path) -> dict[str, str]:
    """The run's PGO_LOAD_* settings for a container: paths under the report folder become
    paths under /reports (the soak's windows file); nothing else of this machine's
    environment goes in."""
    out = {}
    for key, value in env.items():
        if not key.startswith("PGO_LOAD_"):
            continue
        path = Path(value)
        if path.is_absolute() and path.is_relative_to(out_dir):
            value = str(REPORTS_IN_CONTAINER / path.relative_to(out_dir).as_posix())
        out[key] = value
    return out


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class LoadContainers:
    """One run's Locust containers on the sandbox's network, removed when the block ends."""

    def __init__(self, sandbox: Running, out_dir: Path, workers: int, client=None) -> None:
        reason = refuse_reason(sandbox)
        if reason:
            raise LoadContainerError(reason)
        if workers < 1:
            raise LoadContainerError("--worker-containers needs --workers N (N >= 1)")
        self.sandbox = sandbox
        self.out_dir = out_dir.resolve()
        self.workers = workers
        self.run_id = secrets.token_hex(3)
        self.project = project_name(sandbox.state_dir)
        self.client = client or _engine()
        self.network = sandbox_network(self.client, sandbox)
        self.image = ensure_load_image(self.client)
        self._previous_sigterm = None

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL: self.project, LOAD_LABEL: self.run_id,
                "pgo-sandbox.state-dir": str(self.sandbox.state_dir)}

    def name(self, role: str) -> str:
        return f"{self.project}-load-{self.run_id}-{role}"

    def __enter__(self) -> LoadContainers:
        # a SIGTERM (CI timeout, kill) stops like Ctrl-C: the containers are removed
        self._previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.remove_all()
        finally:
            signal.signal(signal.SIGTERM, self._previous_sigterm or signal.SIG_DFL)

    def remaining(self) -> list:
        """This run's containers the engine still has (none after the block)."""
        return self.client.containers.list(all=True, ignore_removed=True,
                                           filters={"label": f"{LOAD_LABEL}={self.run_id}"})

    def remove_all(self) -> None:
        from docker.errors import APIError, NotFound

        for container in self.remaining():
            try:
                container.remove(force=True)
            except (NotFound, APIError):
                pass  # already gone

    def _start(self, role: str, command: list[str], env: dict[str, str],
               entrypoint: list[str] | None = None):
        """Create and start one container on the sandbox's network, reachable there by its
        name; this machine's user owns what it writes under /reports."""
        name = self.name(role)
        container = self.client.containers.create(
            self.image, command=command, entrypoint=entrypoint, name=name, hostname=name,
            labels={**self.labels, "pgo-sandbox.load.role": role},
            environment=env, user=f"{os.getuid()}:{os.getgid()}", network=self.network,
            networking_config={self.network: self.client.api.create_endpoint_config(
                aliases=[name])},
            volumes={str(self.out_dir): {"bind": str(REPORTS_IN_CONTAINER), "mode": "rw"},
                     str(self.sandbox.state_dir): {"bind": str(self.sandbox.state_dir),
                                                   "mode": "ro"}},
            **UNPRIVILEGED)
        container.start()
        return container

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """The containers' environment: the run's settings, the state directory (mounted at
        its own path) and the in-network address map. Where the nodes serve HTTPS inside
        the network the users read the sandbox CA and the PGOs' certificates from
        ``<state>/pki`` in that mount and Docker DNS resolves the hostnames
        (loadtests.mtls); the variables below only point other clients at the CA."""
        addresses = network_addresses(self.sandbox)
        out = container_env(env, self.out_dir) | {
            "PGO_LOAD_STATE": str(self.sandbox.state_dir),
            "PGO_LOAD_ADDRESSES": json.dumps(addresses)}
        bundle = self.sandbox.state_dir / "pki" / BUNDLE
        if any(a.startswith("https:") for a in addresses.values()) and bundle.exists():
            out |= {"REQUESTS_CA_BUNDLE": str(bundle), "SSL_CERT_FILE": str(bundle)}
        return out

    def run_phase(self, phase: str, files: list[str], locust_args: list[str],
                  env: dict[str, str], deadline: float) -> int:
        """A master (headless, ``locust_args``) and the workers on ``files`` (names in
        loadtests/), to the master's end or ``deadline`` seconds; logs to ``<phase>.log`` and
        ``<phase>-worker-<i>.log`` in the report folder. Returns the master's exit code."""
        paths = ",".join(str(FLOWS_IN_IMAGE / f) for f in files)
        env = self.env(env)
        master_role = f"{phase}-master"
        master = self._start(master_role, [
            "-f", paths, *locust_args, "--master", "--master-bind-port", str(MASTER_PORT),
            "--expect-workers", str(self.workers),
            "--expect-workers-max-wait", str(WORKERS_WAIT_SECONDS)], env)
        workers = [self._start(f"{phase}-worker-{i}", [
            "-f", paths, "--worker", "--master-host", self.name(master_role),
            "--master-port", str(MASTER_PORT), "--loglevel", "WARNING"], env)
            for i in range(1, self.workers + 1)]
        try:
            code = self._wait(master, deadline)
            end = time.monotonic() + 15  # workers quit when the master tells them
            for worker in workers:
                self._wait(worker, max(1.0, end - time.monotonic()), required=False)
        finally:
            self._save_log(master, self.out_dir / f"{phase}.log")
            for i, worker in enumerate(workers, 1):
                self._save_log(worker, self.out_dir / f"{phase}-worker-{i}.log")
        return code

    def _wait(self, container, seconds: float, required: bool = True) -> int:
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import ReadTimeout

        try:
            return int(container.wait(timeout=seconds)["StatusCode"])
        except (ReadTimeout, RequestsConnectionError):
            container.kill()
            if required:
                raise LoadContainerError(
                    f"{container.name} did not finish within {seconds:.0f} s; see "
                    f"{self.out_dir}") from None
            return -1

    @staticmethod
    def _save_log(container, path: Path) -> None:
        from docker.errors import APIError, NotFound

        try:
            path.write_bytes(container.logs())
        except (NotFound, APIError, OSError):
            pass

    @contextmanager
    def ceiling(self) -> Iterator[str]:
        """The bare ASGI endpoint (loadtests.ceiling_app) as a container on the same network,
        for the ceiling phase: the Locust containers reach it as they reach the nodes."""
        container = self._start("ceiling", ["-m", "loadtests.ceiling_app", "--host", "0.0.0.0",
                                            "--port", str(CEILING_PORT)], {},
                                entrypoint=["python"])
        probe = ("import urllib.request as u; "
                 f"u.urlopen('http://127.0.0.1:{CEILING_PORT}/', timeout=1)")
        deadline = time.monotonic() + 30
        while True:
            container.reload()
            if container.status not in ("created", "running"):
                raise LoadContainerError(f"the ceiling endpoint exited: "
                                         f"{container.logs().decode(errors='replace')[-500:]}")
            if container.exec_run(["python", "-c", probe]).exit_code == 0:
                break
            if time.monotonic() > deadline:
                raise LoadContainerError("the ceiling endpoint did not start within 30 s")
            time.sleep(0.3)
        try:
            yield f"http://{self.name('ceiling')}:{CEILING_PORT}"
        finally:
            self._save_log(container, self.out_dir / "ceiling-server.log")
            container.remove(force=True)
