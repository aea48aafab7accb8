"""The DigiD round trip, as a relying party (a DVA, the inspection function) sees it.

1. The relying party sends the browser to ``/login?rp=<its hostname>&return_to=…&RelayState=…``.
2. The person submits a BSN (test persons only: the population's BSNs).
3. The browser is sent back to ``return_to?SAMLart=<artifact>&RelayState=…``.
4. The relying party resolves the single-use artifact over the back-channel (``/artifact``).

Single sign-on: a DigiD session (cookie ``<node id>_session``) lets the person log in again
within 15 minutes without a BSN, but never silently: the login page says who is logged in and
the person clicks "Doorgaan als ..." (a POST to ``/login/continue``), or logs in as someone
else below it. A silent pass-through would let anyone who sends a logged-in person a DigiD
link (with their own RelayState) log that person in to a session of theirs.

Every form post carries a CSRF token and must come from DigiD's own origin: the BSN form's token
is bound to a pre-login cookie (``<node id>_csrf``), the continue form's to the DigiD session.

The parts: ``service.DigiD`` (rules, sessions, artifacts; timed by the injected clock),
``pages`` (the login page), ``routes`` (plain handlers), ``errors`` (mapped once).
"""

from __future__ import annotations

from fastapi import FastAPI

from simulators.common.app import node_app
from simulators.common.clock import Clock, SandboxClock
from simulators.common.config import SandboxConfig
from simulators.common.people import population_for
from simulators.digid import errors, routes
from simulators.digid.service import ARTIFACT_SECONDS, SESSION_SECONDS, DigiD
from simulators.population import Population

__all__ = ["ARTIFACT_SECONDS", "SESSION_SECONDS", "create_app"]


def create_app(config: SandboxConfig, node_id: str, *, population: Population | None = None,
               clock: Clock | None = None, state: DigiD | None = None) -> FastAPI:
    """The DigiD node. Defaults: the sandbox population and the sandbox clock; ``state``
    (the DigiD service with its sessions and artifacts) is built from them when not given."""
    app = node_app(config, node_id, "DigiD simulator")
    if state is None:
        state = DigiD(config, node_id,
                      population if population is not None else population_for(config),
                      clock if clock is not None else SandboxClock(config.state_dir))
    app.state.digid = state
    state.use_faults(app.state.faults)  # digid_cancelled, digid_failed (issue 16)
    hostname = state.hostname
    app.state.own_origins = {config.public_base(hostname).rstrip("/"),
                             config.addresses[hostname].rstrip("/")}
    errors.install(app)
    app.include_router(routes.router)
    return app
