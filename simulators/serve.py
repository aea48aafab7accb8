"""Run one sandbox node.

Every runtime starts nodes this way:
- local processes: ``python -m simulators.serve <node-id> --config <state>/sandbox.json``
  (the runtime wrote the address map);
- containers: ``python -m simulators.serve <node-id> --network-port 8000 --state-dir /state``
  builds the ``medmij`` profile itself: every node is reachable at http://<hostname>:8000
  under its MedMij hostname (the compose network alias). ``--topology FILE`` overrides the
  packaged topology in both cases.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

from simulators.common import clock
from simulators.common.app import serving_app
from simulators.common.config import SandboxConfig
from simulators.common.http import SERVER_KEEP_ALIVE
from simulators.common.security import ensure_admin_token
from simulators.medmij.topology import load_topology


def network_config(topology_path: str | None, port: int, state_dir: Path) -> SandboxConfig:
    """The medmij-profile config of a container network: hostnames resolve by alias. The
    docker runtime passes its run's nonce (answered on /health) in PGO_SANDBOX_RUN_NONCE."""
    topology = load_topology(topology_path)
    addresses = {n.hostname: f"http://{n.hostname}:{port}" for n in topology.nodes}
    return SandboxConfig(topology, "medmij", addresses, state_dir,
                         run_nonce=os.environ.get("PGO_SANDBOX_RUN_NONCE", ""))

ROLE_MODULES = {
    "registry": "simulators.registry.app",
    "digid": "simulators.digid.app",
    "dva": "simulators.dva.app",
    "dvp": "simulators.dvp.app",
    "inspection": "simulators.inspection.app",
}


# How every node is served (and the load tests' bare ceiling endpoint, for a fair ratio).
UVICORN_OPTIONS = {
    "log_level": "warning",
    "access_log": False,
    "loop": "uvloop",
    "http": "httptools",
    "timeout_graceful_shutdown": 3,
    "timeout_keep_alive": SERVER_KEEP_ALIVE,  # the clients' keep-alive expiry stays below it
    "proxy_headers": False,  # nodes are reached directly, never through a proxy
    "server_header": False,
}


def build_app(config: SandboxConfig, node_id: str):
    role = config.topology.node(node_id).role
    return importlib.import_module(ROLE_MODULES[role]).create_app(config, node_id)


def build_asgi(config: SandboxConfig, node_id: str):
    """The node's app as served: with hop logging and its fast routes."""
    return serving_app(build_app(config, node_id), node_id)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("node")
    parser.add_argument("--config", default=os.environ.get("PGO_SANDBOX_CONFIG"),
                        help="sandbox.json written by a runtime")
    parser.add_argument("--network-port", type=int,
                        default=int(os.environ.get("PGO_SANDBOX_NETWORK_PORT", 0)) or None,
                        help="container mode: every node listens on this port at its hostname")
    parser.add_argument("--topology", default=os.environ.get("PGO_SANDBOX_TOPOLOGY"))
    parser.add_argument("--state-dir", default=os.environ.get("PGO_SANDBOX_STATE", "/state"))
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--log-level", default=os.environ.get("PGO_SANDBOX_LOG", "info"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # list polling is not news
    if args.config:
        config = SandboxConfig.load(args.config)
        bind = urlsplit(config.addresses[config.topology.node(args.node).hostname])
        host, port = bind.hostname, bind.port
    elif args.network_port:
        config = network_config(args.topology, args.network_port, Path(args.state_dir))
        host, port = "0.0.0.0", args.network_port
        # the docker runtime put the host's token in the shared volume already; under
        # `docker compose` the registry (started first) creates it and the others read it
        ensure_admin_token(config.state_dir)
    else:
        parser.error("give --config (local runtime) or --network-port (containers)")
    serve(config, args.node, args.host or host, args.port or port)


def serve(config: SandboxConfig, node_id: str, host: str, port: int) -> None:
    """Serve one node by host and port: one worker, no --reload (PERFORMANCE.md's trap)."""
    clock.configure(config.state_dir)
    uvicorn.run(build_asgi(config, node_id), host=host, port=port, **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
