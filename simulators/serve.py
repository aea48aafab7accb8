"""Run one sandbox node.

Every runtime starts nodes this way:
- local processes: ``python -m simulators.serve <node-id> --config <state>/sandbox.json``
  (the runtime wrote the address map);
- containers: ``python -m simulators.serve <node-id> --network-port 8000 --state-dir /state``
  builds the ``medmij`` profile itself: every node is reachable at http://<hostname>:8000
  under its MedMij hostname (the compose network alias). With ``--tls`` (the docker, compose
  and swarm runtimes: ``--network-port 443 --tls``) every node is https://<hostname> instead,
  served with its certificate from ``<state>/pki`` (mounted read-only) and mutual TLS on the
  back channels, exactly as the local ``medmij`` profile. ``--topology FILE`` overrides the
  packaged topology in both cases. Revocation there: the PKI folder is a copy made at ``up``,
  so each node keeps its own CRL in its node directory (``revocation.CrlFile``), the registry serves
  it (``simulators.registry.crl``) and the others fetch it with their list refresh
  (``lists.CrlFollower``); their server and client contexts follow that file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

from simulators.common import clock, revocation, tls
from simulators.common.app import serving_app, tune_gc
from simulators.common.config import SandboxConfig
from simulators.common.http import SERVER_KEEP_ALIVE, async_client
from simulators.common.lists import CrlFollower, ListCache
from simulators.common.security import ensure_admin_token
from simulators.medmij import LIST_PATHS
from simulators.medmij.topology import load_topology


def network_config(topology_path: str | None, port: int, state_dir: Path,
                   use_tls: bool = False) -> SandboxConfig:
    """The medmij-profile config of a container network: hostnames resolve by alias. The
    docker runtime passes its run's nonce (answered on /health) in PGO_SANDBOX_RUN_NONCE.
    ``use_tls``: every node https://<hostname> (port 443 needs none in the URL, as the ZAL
    XSD wants), so ``serve`` takes the TLS path of the local medmij profile."""
    topology = load_topology(topology_path)
    if use_tls:
        suffix = "" if port == 443 else f":{port}"
        addresses = {n.hostname: f"https://{n.hostname}{suffix}" for n in topology.nodes}
    else:
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
    parser.add_argument("--tls", action="store_true",
                        default=os.environ.get("PGO_SANDBOX_TLS", "") == "1",
                        help="container mode: serve HTTPS with <state-dir>/pki (the medmij "
                        "profile with mutual TLS); env PGO_SANDBOX_TLS=1")
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
        host, port = bind_address(config, args.node)
    elif args.network_port:
        config = network_config(args.topology, args.network_port, Path(args.state_dir),
                                args.tls)
        host, port = "0.0.0.0", args.network_port
        # the docker runtime put the host's token in the shared volume already; under
        # `docker compose` the registry (started first) creates it and the others read it
        ensure_admin_token(config.state_dir)
    else:
        parser.error("give --config (local runtime) or --network-port (containers)")
    serve(config, args.node, args.host or host, args.port or port,
          crl_from_registry=bool(args.network_port and args.tls))


def bind_address(config: SandboxConfig, node_id: str) -> tuple[str, int]:
    """Where a node of the local runtime listens: its address in the map (an https address
    without a port is the ``medmij`` profile's <address>:443)."""
    bind = urlsplit(config.addresses[config.topology.node(node_id).hostname])
    return bind.hostname or "127.0.0.1", bind.port or (443 if bind.scheme == "https" else 80)


# Back channels per role (issue 13 item 3): paths that need a peer certificate on the Whitelist.
BACK_CHANNELS = {
    # /localisation: only the inspection function's certificate gets an answer (routes.py)
    "registry": (*LIST_PATHS.values(), "/localisation"),
    "digid": ("/artifact",),
    "dva": ("/oauth/token", "/oauth/revoke", "/fhir/"),
}


def whitelist_source(app, config: SandboxConfig, node_id: str):
    """(whitelist(), ready()) for a role's gate: the registry its own latest lists, a DVA its
    list cache; any other node (DigiD) a list cache of its own, polled like a DVA's."""
    role = config.topology.node(node_id).role
    if role == "registry":
        return (lambda: set(app.state.registry.nodes)), None
    if role == "dva":
        cache = app.state.dva.lists
    else:
        registry = config.public_base(config.topology.registry.hostname)
        cache = ListCache(registry, async_client(config.addresses),
                          config.topology.list_refresh_seconds)

    def ready():
        if cache._task is None and not cache.ready.is_set():
            cache.start()  # DigiD's own cache: polled from the first back-channel call on
        return cache.ready

    return (lambda: cache.lists.whitelist if cache.ready.is_set() else None), ready


# Sandbox nodes that are no MedMij participants, so on no Whitelist: MedMij Beheer's registry,
# DigiD and the inspection function. They are let into a connection (not onto a back channel).
INFRASTRUCTURE_ROLES = ("registry", "digid", "inspection")


def tls_gate(app, asgi, config: SandboxConfig, node_id: str,
             revoked: Callable[[tls.CertId], bool] | None = None):
    """(the served app behind the Whitelist gate on the role's back channels, the uvicorn
    protocol that refuses an unlisted peer's connection) for a node that serves TLS.
    ``revoked``: the CRL of now (``LiveServerContext.revoked_now``), checked per request."""
    role = config.topology.node(node_id).role
    prefixes = BACK_CHANNELS.get(role)
    if not prefixes:
        return asgi, tls.PeerCertProtocol
    whitelist, ready = whitelist_source(app, config, node_id)
    # the registry also serves the lists to DigiD, sandbox infrastructure outside the lists
    extra = frozenset({config.topology.digid.hostname}) if role == "registry" else frozenset()
    infrastructure = frozenset(n.hostname for n in config.topology.nodes
                               if n.role in INFRASTRUCTURE_ROLES)
    events = app.state.events

    def refused(hostname: str) -> None:
        events.publish("tls-refused", peer=hostname, why="not on the Whitelist")

    protocol = tls.admitting(whitelist, infrastructure, refused)
    return tls.BackChannelGate(asgi, prefixes, whitelist, ready, extra, revoked), protocol


def with_crl_follower(asgi, follower: CrlFollower):
    """The served app, with the CRL follower running from the lifespan's startup to its
    shutdown (every role's app has its own lifespan; this wraps them all the same way)."""

    async def app(scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            await asgi(scope, receive, send)
            return

        async def receive_and_follow():
            message = await receive()
            if message["type"] == "lifespan.startup":
                follower.start()
            elif message["type"] == "lifespan.shutdown":
                await follower.stop()
            return message

        await asgi(scope, receive_and_follow, send)

    return app


def serve(config: SandboxConfig, node_id: str, host: str, port: int, *,
          crl_from_registry: bool = False) -> None:
    """Serve one node by host and port: one worker, no --reload (PERFORMANCE.md's trap).

    A node mapped to an https address serves TLS with its certificate from ``<state>/pki``,
    reads the peer certificate per connection (``tls.PeerCertProtocol``), gates its back
    channels by the Whitelist and presents its own certificate on its calls.
    ``crl_from_registry`` (containers, whose PKI folder is a copy made at ``up``): the node
    checks certificates against its own CRL file, which the registry takes from ``ca revoke``
    and every other node fetches from the registry with its list refresh."""
    clock.configure(config.state_dir)
    hostname = config.topology.node(node_id).hostname
    if not tls.uses_tls(config, hostname):
        asgi = build_asgi(config, node_id)
        tune_gc()  # after start-up built what lives as long as the node (issue 17)
        uvicorn.run(asgi, host=host, port=port, **UVICORN_OPTIONS)
        return
    pki_dir = config.state_dir / "pki"
    crl = None
    if crl_from_registry:
        try:
            crl = revocation.CrlFile(pki_dir, config.node_dir(node_id) / tls.CRL_FILE)
        except (OSError, revocation.CrlRefused) as exc:  # serve on, with the CRL made at `up`
            logging.getLogger(__name__).error(
                "no CRL file of its own (%s): revocations after `up` are not followed", exc)
        else:
            tls.follow_crl(pki_dir, crl.path)  # the node's clients check against it too
    tls.use_identity(pki_dir, hostname)  # before the app builds its clients
    live = tls.LiveServerContext(pki_dir, hostname, crl.path if crl else None)
    app = build_app(config, node_id)
    if crl is not None:  # the registry publishes and takes CRLs through this same file
        app.state.crl = crl  # (``registry.crl.held_crl``): one holder, not two
    asgi, protocol = tls_gate(app, serving_app(app, node_id), config, node_id, live.revoked_now)
    protocol = tls.rechecking(protocol, live)  # a resumed session meets the CRL of now too
    registry = config.topology.registry.hostname
    if crl is not None and hostname != registry:
        # without the node's certificate, as a CRL distribution point is fetched: a node
        # whose own certificate was revoked must still learn of it (the registry refuses
        # that certificate in the handshake)
        anonymous = async_client(config.addresses, timeout=30.0, node_id=node_id,
                                 present_identity=False)
        follower = CrlFollower(config.public_base(registry) + tls.CRL_PATH, anonymous,
                               config.topology.list_refresh_seconds, crl, live.refresh)
        asgi = with_crl_follower(asgi, follower)
    tune_gc()
    options = {**UVICORN_OPTIONS, "http": protocol}
    uvicorn.run(asgi, host=host, port=port, ssl_context_factory=lambda *_: live.context,
                **options)


if __name__ == "__main__":
    main()
