"""The inspection function: DigiD login, localisation by pseudonym, live collect, one overview.

``create_app`` wires the parts: the back-channel client (``http``: DigiD, registry, DVAs), the
clock (session expiry and search timestamps), the session store, the MedMij lists, the
service (``service.InspectionFunction``), the routes (``routes``) and the error model
(``errors``). Each can be injected by a test. See ``routes`` for the browser binding and
``sessions`` for what is held (never a BSN; nothing on disk).
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
from simulators.inspection import errors, routes
from simulators.inspection.service import InspectionFunction
from simulators.inspection.sessions import SESSION_SECONDS, SessionStore

__all__ = ["SESSION_SECONDS", "create_app"]


def create_app(config: SandboxConfig, node_id: str, *, http: httpx.AsyncClient | None = None,
               clock: Clock | None = None, sessions: SessionStore | None = None,
               lists: ListCache | None = None) -> FastAPI:
    """The inspection node. Defaults: a MedMij HTTP client, the sandbox clock, an empty
    session store and a list cache polling the registry. An injected ``http`` is the
    caller's to close."""
    owns_http = http is None
    http = http if http is not None else async_client(config.addresses, node_id=node_id)
    clock = clock if clock is not None else SandboxClock(config.state_dir)
    topology = config.topology
    lists = lists if lists is not None else ListCache(
        config.public_base(topology.registry.hostname), http, topology.list_refresh_seconds,
        topology.list_max_age_seconds)
    function = InspectionFunction(config, node_id, http, lists, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        lists.start()
        yield
        await lists.stop()
        if owns_http:
            await http.aclose()

    app = node_app(config, node_id, function.name, lifespan)
    app.state.inspection = function
    app.state.sessions = sessions if sessions is not None else SessionStore(clock)
    app.state.node_name = function.name

    async def ready() -> bool:
        return lists.ready.is_set()

    app.state.ready = ready
    app.state.health_extra = getattr(lists, "health", None)  # the lists' age (issue 16)
    errors.install(app)
    app.include_router(routes.router)
    return app
