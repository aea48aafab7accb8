"""The DVA node: authorization server + resource server for the providers it serves.

``create_app`` assembles it from parts, each injectable so a test builds a DVA in-process:
the HTTP client (DigiD artifact resolution, the registry's lists), the providers' source
system (``simulators.provider.SourceSystem``), the grant store and the clock. Left out, each
is the production one for the node.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial

import httpx
from fastapi import FastAPI

from simulators.common.app import node_app
from simulators.common.clock import Clock, SandboxClock
from simulators.common.config import SandboxConfig
from simulators.common.http import async_client
from simulators.dva import authorize, errors, pages_router, resources, token
from simulators.dva.grants import GrantError, GrantStore
from simulators.dva.service import DVA
from simulators.provider import SourceSystem, source_for


def create_app(config: SandboxConfig, node_id: str, *, http: httpx.AsyncClient | None = None,
               source: SourceSystem | None = None, grants: GrantStore | None = None,
               clock: Clock | None = None) -> FastAPI:
    """The DVA ``node_id``. A client passed as ``http`` is the caller's to close."""
    clock = clock or SandboxClock(config.state_dir)
    owns_http = http is None
    dva = DVA(config, node_id,
              source=source or source_for(config, node_id, clock),
              grants=grants or GrantStore(config.node_dir(node_id) / "dva.sqlite", clock),
              client=http or async_client(config.addresses, node_id=node_id), clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        dva.lists.start()
        yield
        await dva.lists.stop()
        if owns_http:
            await dva.client.aclose()

    app = node_app(config, node_id, dva.name, lifespan)
    app.state.dva = dva
    dva.use_faults(app.state.faults)  # issue 16: the authorization-side faults

    async def ready() -> bool:
        return dva.lists.ready.is_set()

    app.state.ready = ready
    app.state.health_extra = dva.lists.health
    for exc_class, handler in errors.handlers(GrantError).items():
        app.add_exception_handler(exc_class, handler)
    app.include_router(authorize.router)
    app.include_router(token.router)
    app.include_router(resources.router)
    app.include_router(pages_router.router)

    # searches and reads, served ahead of FastAPI (common.app.FastRoutes)
    app.state.fast_routes.append(("GET", resources.FAST_SEARCH,
                                  partial(resources.read_or_search, dva)))
    return app
