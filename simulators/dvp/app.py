"""The DVP node: a PGO with person accounts that collects through the MedMij flow.

Every person logs in to the PGO itself (``accounts.py``): their pages and API answer only to
their own session, every state change carries the session's CSRF token, and a MedMij callback
completes only in the browser session that started the authorization.

``create_app`` only assembles: the parts (HTTP client, store, clock, lists, curator) are
injected or built with production defaults, the routers are modules of plain handlers
(``*_router.py``) reaching the node through ``deps.get_dvp``, the protocol steps live in
services (``collect``, ``grants``, ``share``, ``portability``, ``curator``) and every refusal
is answered by ``errors.install``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from simulators.common.app import node_app
from simulators.common.clock import Clock, SandboxClock
from simulators.common.config import SandboxConfig
from simulators.common.http import async_client
from simulators.common.lists import ListCache
from simulators.dvp import (
    accounts_router,
    collect_router,
    curator_router,
    errors,
    grants_router,
    pages_router,
    portability,
    portability_router,
    share_router,
)
from simulators.dvp.curator import Curator
from simulators.dvp.deps import DVP
from simulators.dvp.errors import Forbidden
from simulators.dvp.store import DvpStore

ROUTERS = (accounts_router, collect_router, portability_router, curator_router, share_router,
           grants_router, pages_router)


def create_app(config: SandboxConfig, node_id: str, *, http: httpx.AsyncClient | None = None,
               store: DvpStore | None = None, clock: Clock | None = None,
               lists: ListCache | None = None, curator: Curator | None = None) -> FastAPI:
    """One DVP node. Defaults: an HTTP client that resolves MedMij hostnames, ``dvp.sqlite``
    and ``curator.json`` in the node directory, the sandbox clock of the state directory, and
    the list cache of the registry (refreshed while the app runs)."""
    node = config.topology.node(node_id)
    node_dir = config.node_dir(node_id)
    clock = clock if clock is not None else SandboxClock(config.state_dir)
    http = http if http is not None else async_client(config.addresses, node_id=node_id)
    lists = lists if lists is not None else ListCache(
        config.public_base(config.topology.registry.hostname), http,
        config.topology.list_refresh_seconds, config.topology.list_max_age_seconds)
    dvp = DVP(config=config, node=node, clock=clock, client=http, lists=lists,
              store=store if store is not None else DvpStore(node_dir / "dvp.sqlite", clock),
              curator=curator if curator is not None else Curator.load(
                  node_dir / "curator.json"))
    portability.ensure_schema(dvp.store.db)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        dvp.lists.start()
        yield
        await dvp.lists.stop()
        await dvp.client.aclose()

    app = node_app(config, node_id, node.name, lifespan)
    app.state.dvp = dvp

    async def ready() -> bool:
        return dvp.lists.ready.is_set()

    app.state.ready = ready
    app.state.health_extra = getattr(dvp.lists, "health", None)  # lists' age (issue 16)
    errors.install(app, node.name)
    for module in ROUTERS:
        app.include_router(module.router)
    return app


__all__ = ["DVP", "Forbidden", "create_app"]
